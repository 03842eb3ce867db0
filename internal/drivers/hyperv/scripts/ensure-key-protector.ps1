$ErrorActionPreference = 'Stop'
# ensure-key-protector: gives the VM a local key protector when it has none ($null or the
# AAAABA== placeholder); with reset, replaces it, which destroys what the vTPM sealed.
# Needs the VM Off when it changes anything. Parameters: vm, reset.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrVM ([string]$p.vm)
Assert-TlrGeneration2 $vm 'ensure-key-protector'
$before = Get-TlrKeyProtectorRaw $vm -Strict
$has = ($null -ne $before -and $before -ne 'AAAABA==')
if ($has -and -not $p.reset) { return (Get-TlrResult 'key protector present' $false) }
Assert-TlrOff $vm 'ensure-key-protector'
Set-VMKeyProtector -VM $vm -NewLocalKeyProtector
$after = Get-TlrKeyProtectorRaw (Get-TlrVM ([string]$p.vm)) -Strict
if ($null -eq $after -or $after -eq 'AAAABA==' -or ($has -and $after -eq $before)) {
    Stop-Tlr 'not_applied' ('vm/{0}: Set-VMKeyProtector returned but the key protector did not change' -f $p.vm)
}
Get-TlrResult 'new local key protector' $true
