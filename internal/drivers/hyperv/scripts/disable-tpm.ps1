$ErrorActionPreference = 'Stop'
# disable-tpm: turns the vTPM off (destructive for what it sealed); needs the VM Off.
# Reads it back. Parameters: vm.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrVM ([string]$p.vm)
if (-not (Get-VMSecurity -VM $vm).TpmEnabled) { return (Get-TlrResult 'vTPM already disabled' $false) }
Assert-TlrOff $vm 'disable-tpm'
Disable-VMTPM -VM $vm
if ((Get-VMSecurity -VM (Get-TlrVM ([string]$p.vm))).TpmEnabled) {
    Stop-Tlr 'not_applied' ('vm/{0}: Disable-VMTPM returned but TpmEnabled is still true' -f $p.vm)
}
Get-TlrResult 'vTPM disabled' $true
