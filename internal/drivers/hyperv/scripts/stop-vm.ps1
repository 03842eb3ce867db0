$ErrorActionPreference = 'Stop'
# stop-vm: shuts the VM down through the guest and reads the state back. Stop-VM -Force shuts
# down through the guest operating system and gives applications with unsaved data five
# minutes (Stop-VM documentation, -Force); it runs as a job bounded by that plus a margin
# (330 s). A guest that does not shut down (no shutdown integration service, hung, installing
# updates) is turned off - Stop-VM -TurnOff, "equivalent to removing power" - only when the
# caller allows it (allowForceStop: apply --allow-force-stop); otherwise the op fails with the
# VM's state and heartbeat. Saved and Paused VMs lose their memory state when turned off, so
# they need allowForceStop too. Parameters: vm, allowForceStop.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrVM ([string]$p.vm)
$state = [string]$vm.State
if ($state -eq 'Off') { return (Get-TlrResult 'already Off' $false) }
$force = [bool]$p.allowForceStop
$why = $null
if ($state -eq 'Running') {
    $job = Stop-VM -VM $vm -Force -AsJob
    $null = Wait-Job -Job $job -Timeout 330
    if ([string]$job.State -eq 'Failed') {
        $why = [string]$job.ChildJobs[0].JobStateInfo.Reason.Message
    } elseif ([string]$job.State -ne 'Completed') {
        $why = 'the guest did not shut down within 330 seconds'
        Stop-Job -Job $job
    }
    Remove-Job -Job $job -Force
    $vm = Get-TlrVM ([string]$p.vm)
    if ([string]$vm.State -eq 'Off') { return (Get-TlrResult 'stopped' $true) }
    if ($null -eq $why) { $why = 'Stop-VM returned but the VM is ' + [string]$vm.State }
} else {
    $why = 'it is ' + $state + ', and turning it off discards its saved memory state'
}
if (-not $force) {
    Stop-Tlr 'invalid_state' ('vm/{0}: not stopped: {1}; the VM is {2} (heartbeat {3}): shut the guest down from inside, or apply with --allow-force-stop to turn it off (unsaved guest data is lost)' -f $p.vm, $why, $vm.State, $vm.Heartbeat)
}
Stop-VM -VM $vm -TurnOff -Force
$vm = Get-TlrVM ([string]$p.vm)
if ([string]$vm.State -ne 'Off') { Stop-Tlr 'not_applied' ('vm/{0}: Stop-VM -TurnOff returned but the VM is {1}' -f $p.vm, $vm.State) }
Get-TlrResult ('turned off with --allow-force-stop (' + $why + ')') $true
