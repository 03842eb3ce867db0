$ErrorActionPreference = 'Stop'
# enable-migration-encryption: protects this node's live-migration traffic for the transport
# Network ATC set. The driver runs it on every node of the cluster in two passes, phase
# 'request' on all nodes, then 'require' on all nodes, so no two nodes are ever unable to
# migrate between them. TCPIP and Compression (TCP 6600): one IPsec rule 'tlreconcile live
# migration' with ESP AES-256 encryption, inbound and outbound security Request, then Require;
# main mode authenticates with machine certificates of certificateAuthority when given
# (AD-less clusters have no Kerberos), else with the default (Kerberos). SMB (which IPsec
# cannot protect past SMB Direct): Azure Local's SMB cluster encryption on this node.
# Parameters: transport (the one observed; refused when it changed), phase,
# certificateAuthority (optional).
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$phase = [string]$p.phase
if ($phase -ne 'request' -and $phase -ne 'require') { Stop-Tlr 'invalid_argument' ('node: phase {0}: use request or require' -f $phase) }
$transport = [string](Get-VMHost).VirtualMachineMigrationPerformanceOption
if ($transport -ne [string]$p.transport) {
    Stop-Tlr 'precondition' ('node: the live-migration transport is {0}, not {1}; observe again' -f $transport, $p.transport)
}
if ($transport -eq 'SMB') {
    if ($null -eq (Get-TlrSmbClusterEncryption)) { Stop-Tlr 'not_supported' 'node: Get-AzsSecurity is not available; apply the Azure Local security baseline first' }
    if (Get-TlrSmbClusterEncryption) { return (Get-TlrResult 'SMB cluster encryption already on' $false) }
    Enable-AzsSecurity -FeatureName SMBClusterEncryption -Local | Out-Null
    if (-not (Get-TlrSmbClusterEncryption)) { Stop-Tlr 'not_applied' 'node: Enable-AzsSecurity returned but SMB cluster encryption is off' }
    return (Get-TlrResult 'SMB cluster encryption switched on' $true)
}
$security = 'Request'
if ($phase -eq 'require') { $security = 'Require' }
$current = Get-TlrMigrationIPsec
if ($current -eq 'require' -or $current -eq $phase) { return (Get-TlrResult ('live migration IPsec already {0}' -f $current) $false) }
$name = 'tlreconcile live migration'
$rule = Get-NetIPsecRule -DisplayName $name -PolicyStore PersistentStore -ErrorAction SilentlyContinue
if ($null -eq $rule) {
    $proposal = New-NetIPsecQuickModeCryptoProposal -Encapsulation ESP -Encryption AES256 -ESPHash SHA256
    $qm = New-NetIPsecQuickModeCryptoSet -DisplayName $name -Proposal $proposal -PolicyStore PersistentStore
    $ruleArgs = @{ DisplayName = $name; Protocol = 'TCP'; LocalPort = '6600'; InboundSecurity = $security; OutboundSecurity = $security; QuickModeCryptoSet = $qm.Name; PolicyStore = 'PersistentStore' }
    if ([string]$p.certificateAuthority) {
        $auth = New-NetIPsecAuthProposal -Machine -Cert -Authority ([string]$p.certificateAuthority) -AuthorityType Root
        $p1 = New-NetIPsecPhase1AuthSet -DisplayName $name -Proposal $auth -PolicyStore PersistentStore
        $ruleArgs['Phase1AuthSet'] = $p1.Name
    }
    New-NetIPsecRule @args2 | Out-Null
} else {
    Set-NetIPsecRule -InputObject $rule -InboundSecurity $security -OutboundSecurity $security -Enabled True | Out-Null
}
$now = Get-TlrMigrationIPsec
if ($now -ne $phase -and $now -ne 'require') { Stop-Tlr 'not_applied' ('node: the IPsec rule was written but live migration IPsec is {0}' -f $now) }
Get-TlrResult ('live migration IPsec set to {0} (ESP AES-256)' -f $phase) $true
