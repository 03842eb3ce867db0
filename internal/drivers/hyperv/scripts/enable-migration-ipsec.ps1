$ErrorActionPreference = 'Stop'
# enable-migration-ipsec: IPsec rules that require protection for live-migration traffic
# (TCP 6600, both directions) on this node. Verifies with the same test observe uses.
# Parameters: {}.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
if (Test-TlrMigrationIPsec) { return (Get-TlrResult 'already covered' $false) }
# The NetSecurity cmdlets are CDXML functions of a script module, which do not see this
# script's $ErrorActionPreference (PowerShell/PowerShell#4568): -ErrorAction Stop is explicit.
foreach ($dir in @('in', 'out')) {
    $name = 'tlreconcile-live-migration-' + $dir
    $rule = Get-NetIPsecRule -Name $name -ErrorAction SilentlyContinue
    if ($null -ne $rule) { Remove-NetIPsecRule -Name $name -ErrorAction Stop }
    $ruleArgs = @{
        Name             = $name
        DisplayName      = ('tlreconcile: live migration ({0})' -f $dir)
        Protocol         = 'TCP'
        InboundSecurity  = 'Require'
        OutboundSecurity = 'Require'
    }
    if ($dir -eq 'in') { $ruleArgs['LocalPort'] = '6600' } else { $ruleArgs['RemotePort'] = '6600' }
    New-NetIPsecRule @ruleArgs -ErrorAction Stop | Out-Null
}
if (-not (Test-TlrMigrationIPsec)) { Stop-Tlr 'not_applied' ('node/{0}: IPsec rules created but live migration is still not covered' -f $env:COMPUTERNAME) }
Get-TlrResult 'live-migration IPsec rules created' $true
