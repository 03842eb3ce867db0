$ErrorActionPreference = 'Stop'
# enable-migration-ipsec: IPsec rules that require ESP-encrypted protection for live-migration
# traffic (TCP 6600, both directions) on this node: an explicit quick-mode crypto set
# (New-NetIPsecQuickModeCryptoSet: ESP with AES-GCM 256 or AES-256/SHA-256; Require alone
# may mean integrity only) and a main-mode auth set (New-NetIPsecPhase1AuthSet: Kerberos, or
# a machine certificate issued by certAuthority for workgroup clusters without Kerberos).
# The driver runs it on every node of the cluster in one step and rolls the nodes it changed
# back with disable-migration-ipsec when one fails. Verifies with the test observe uses.
# Parameters: auth (kerberos | certificate), certAuthority.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
if (Test-TlrMigrationIPsec) { return (Get-TlrResult 'already covered' $false) }
# The NetSecurity cmdlets are CDXML functions of a script module, which do not see this
# script's $ErrorActionPreference (PowerShell/PowerShell#4568): -ErrorAction Stop is explicit.
$cryptoName = 'tlreconcile-live-migration-esp'
$authName = 'tlreconcile-live-migration-auth'
foreach ($dir in @('in', 'out')) {
    $name = 'tlreconcile-live-migration-' + $dir
    if ($null -ne (Get-NetIPsecRule -Name $name -ErrorAction SilentlyContinue)) { Remove-NetIPsecRule -Name $name -ErrorAction Stop }
}
if ($null -ne (Get-NetIPsecQuickModeCryptoSet -Name $cryptoName -ErrorAction SilentlyContinue)) { Remove-NetIPsecQuickModeCryptoSet -Name $cryptoName -ErrorAction Stop }
if ($null -ne (Get-NetIPsecPhase1AuthSet -Name $authName -ErrorAction SilentlyContinue)) { Remove-NetIPsecPhase1AuthSet -Name $authName -ErrorAction Stop }
$gcm = New-NetIPsecQuickModeCryptoProposal -Encapsulation ESP -Encryption AESGCM256 -ESPHash AESGMAC256 -ErrorAction Stop
$cbc = New-NetIPsecQuickModeCryptoProposal -Encapsulation ESP -Encryption AES256 -ESPHash SHA256 -ErrorAction Stop
New-NetIPsecQuickModeCryptoSet -Name $cryptoName -DisplayName 'tlreconcile: live migration ESP' -Proposal $gcm, $cbc -ErrorAction Stop | Out-Null
if ([string]$p.auth -eq 'certificate') {
    $proposal = New-NetIPsecAuthProposal -Machine -Cert -Authority ([string]$p.certAuthority) -AuthorityType Root -ErrorAction Stop
} else {
    $proposal = New-NetIPsecAuthProposal -Machine -Kerberos -ErrorAction Stop
}
New-NetIPsecPhase1AuthSet -Name $authName -DisplayName 'tlreconcile: live migration auth' -Proposal $proposal -ErrorAction Stop | Out-Null
foreach ($dir in @('in', 'out')) {
    $ruleArgs = @{
        Name               = 'tlreconcile-live-migration-' + $dir
        DisplayName        = ('tlreconcile: live migration ({0})' -f $dir)
        Protocol           = 'TCP'
        InboundSecurity    = 'Require'
        OutboundSecurity   = 'Require'
        QuickModeCryptoSet = $cryptoName
        Phase1AuthSet      = $authName
    }
    if ($dir -eq 'in') { $ruleArgs['LocalPort'] = '6600' } else { $ruleArgs['RemotePort'] = '6600' }
    New-NetIPsecRule @ruleArgs -ErrorAction Stop | Out-Null
}
if (-not (Test-TlrMigrationIPsec)) { Stop-Tlr 'not_applied' ('node/{0}: IPsec rules created but live migration is still not covered by ESP encryption' -f $env:COMPUTERNAME) }
Get-TlrResult 'live-migration IPsec rules (ESP) created' $true
