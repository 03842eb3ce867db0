$ErrorActionPreference = 'Stop'
# set-secure-boot: switches Secure Boot of a Generation 2 VM back on, its template unchanged
# (re-enable only: the security profile is fixed at creation). The VM must be Off; the driver
# stops and starts it through Azure around this script. Parameters: vmId, vm, infrastructure.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrOwnedVM $p
if ([int]$vm.Generation -ne 2) {
    Stop-Tlr 'precondition' ('vm/{0}: Secure Boot needs a Generation 2 VM and this one is Generation {1}' -f $p.vm, $vm.Generation)
}
if ([string](Get-VMFirmware -VM $vm).SecureBoot -eq 'On') { return (Get-TlrResult 'Secure Boot already on' $false) }
Assert-TlrOff $vm 'enabling Secure Boot'
Set-VMFirmware -VM $vm -EnableSecureBoot On
if ([string](Get-VMFirmware -VM $vm).SecureBoot -ne 'On') {
    Stop-Tlr 'not_applied' ('vm/{0}: Set-VMFirmware returned but Secure Boot is still off' -f $p.vm)
}
Get-TlrResult 'Secure Boot switched back on' $true
