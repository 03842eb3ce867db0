$ErrorActionPreference = 'Stop'
# set-security: EncryptStateAndVmMigrationTraffic and VirtualizationBasedSecurityOptOut; the
# VBS opt-out needs the VM Off. Reads both back. Parameters: vm, encryptState?, vbsOptOut?.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrVM ([string]$p.vm)
$s = Get-VMSecurity -VM $vm
$setArgs = @{}
if ($null -ne $p.encryptState -and [bool]$s.EncryptStateAndVmMigrationTraffic -ne [bool]$p.encryptState) { $setArgs['EncryptStateAndVmMigrationTraffic'] = [bool]$p.encryptState }
if ($null -ne $p.vbsOptOut -and [bool]$s.VirtualizationBasedSecurityOptOut -ne [bool]$p.vbsOptOut) { $setArgs['VirtualizationBasedSecurityOptOut'] = [bool]$p.vbsOptOut }
if ($setArgs.Count -eq 0) { return (Get-TlrResult 'already so' $false) }
if ($setArgs.ContainsKey('VirtualizationBasedSecurityOptOut')) { Assert-TlrOff $vm 'set-security (VBS opt-out)' }
Set-VMSecurity -VM $vm @setArgs
$s = Get-VMSecurity -VM (Get-TlrVM ([string]$p.vm))
if ($null -ne $p.encryptState -and [bool]$s.EncryptStateAndVmMigrationTraffic -ne [bool]$p.encryptState) {
    Stop-Tlr 'not_applied' ('vm/{0}: Set-VMSecurity returned but EncryptStateAndVmMigrationTraffic is {1}' -f $p.vm, $s.EncryptStateAndVmMigrationTraffic)
}
if ($null -ne $p.vbsOptOut -and [bool]$s.VirtualizationBasedSecurityOptOut -ne [bool]$p.vbsOptOut) {
    Stop-Tlr 'not_applied' ('vm/{0}: Set-VMSecurity returned but VirtualizationBasedSecurityOptOut is {1}' -f $p.vm, $s.VirtualizationBasedSecurityOptOut)
}
Get-TlrResult 'security settings changed' $true
