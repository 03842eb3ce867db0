$ErrorActionPreference = 'Stop'
# set-secure-boot: Secure Boot on/off and its template; needs the VM Off and Generation 2, and
# the template cannot change once the vTPM is initialised (a non-empty .vmgs, which a key
# protector reset does not empty). Reads the firmware back, because a
# change to a running VM has been seen to return without taking effect.
# Parameters: vm, enabled? (absent: keep), template? (absent: keep).
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrVM ([string]$p.vm)
Assert-TlrGeneration2 $vm 'set-secure-boot'
$fw = Get-VMFirmware -VM $vm
$wantState = [string]$fw.SecureBoot
if ($null -ne $p.enabled) { if ($p.enabled) { $wantState = 'On' } else { $wantState = 'Off' } }
$wantTemplate = [string]$p.template
if (-not $wantTemplate) { $wantTemplate = [string]$fw.SecureBootTemplate }
if ([string]$fw.SecureBoot -eq $wantState -and [string]$fw.SecureBootTemplate -eq $wantTemplate) { return (Get-TlrResult 'already so' $false) }
Assert-TlrOff $vm 'set-secure-boot'
if ([string]$fw.SecureBootTemplate -ne $wantTemplate -and (Get-VMSecurity -VM $vm).TpmEnabled -and (Test-TlrVmgs $vm)) {
    Stop-Tlr 'precondition' ('vm/{0}: the Secure Boot template cannot change after the vTPM is initialised, and a vTPM reset does not undo that; keep the template, or replace the VM' -f $p.vm)
}
# -SecureBootTemplate only when it changes: a template Get-VMFirmware reports without a name
# (SecureBootTemplateId only) cannot be passed back by name.
$fwArgs = @{ EnableSecureBoot = $wantState }
if ([string]$fw.SecureBootTemplate -ne $wantTemplate) { $fwArgs['SecureBootTemplate'] = $wantTemplate }
Set-VMFirmware -VM $vm @fwArgs
$fw = Get-VMFirmware -VM (Get-TlrVM ([string]$p.vm))
if ([string]$fw.SecureBoot -ne $wantState -or [string]$fw.SecureBootTemplate -ne $wantTemplate) {
    Stop-Tlr 'not_applied' ('vm/{0}: Set-VMFirmware returned but Secure Boot is {1} with template {2}' -f $p.vm, $fw.SecureBoot, $fw.SecureBootTemplate)
}
Get-TlrResult ('Secure Boot {0}, template {1}' -f $wantState, $wantTemplate) $true
