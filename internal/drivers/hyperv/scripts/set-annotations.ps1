$ErrorActionPreference = 'Stop'
# set-annotations: replaces the VM's Notes with new text only when they still equal what the
# caller last saw (compare-and-swap, so an administrator's concurrent edit is never lost);
# otherwise answers Applied=false with the current Notes. Reads the Notes back.
# Parameters: vm, expected, notes.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrVM ([string]$p.vm)
$current = [string]$vm.Notes
if ($current -cne [string]$p.expected) {
    return [pscustomobject]@{ Changed = $false; Applied = $false; Current = $current; Message = 'Notes changed since they were read' }
}
if ($current -ceq [string]$p.notes) {
    return [pscustomobject]@{ Changed = $false; Applied = $true; Current = $current; Message = 'already so' }
}
Set-VM -VM $vm -Notes ([string]$p.notes)
$after = [string](Get-TlrVM ([string]$p.vm)).Notes
if ($after -cne [string]$p.notes) { Stop-Tlr 'not_applied' ('vm/{0}: Set-VM -Notes returned but the Notes differ' -f $p.vm) }
[pscustomobject]@{ Changed = $true; Applied = $true; Current = $after; Message = 'annotations written' }
