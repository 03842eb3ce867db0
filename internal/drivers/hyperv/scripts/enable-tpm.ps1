$ErrorActionPreference = 'Stop'
# enable-tpm: turns the vTPM on; needs the VM Off and a key protector. Reads it back.
# Parameters: vm.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrVM ([string]$p.vm)
Assert-TlrGeneration2 $vm 'enable-tpm'
if ((Get-VMSecurity -VM $vm).TpmEnabled) { return (Get-TlrResult 'vTPM already enabled' $false) }
Assert-TlrOff $vm 'enable-tpm'
if (-not (Test-TlrKeyProtector $vm)) {
    Stop-Tlr 'precondition' ('vm/{0}: the vTPM cannot be changed without a valid key protector; run ensure-key-protector first' -f $p.vm)
}
Enable-VMTPM -VM $vm
if (-not (Get-VMSecurity -VM (Get-TlrVM ([string]$p.vm))).TpmEnabled) {
    Stop-Tlr 'not_applied' ('vm/{0}: Enable-VMTPM returned but TpmEnabled is still false' -f $p.vm)
}
Get-TlrResult 'vTPM enabled' $true
