$ErrorActionPreference = 'Stop'
# stop-vm: shuts the VM down through the guest (Saved and Paused VMs are turned off) and reads
# the state back. Stop-VM -Force shuts down "through the guest operating system", which fails
# when the guest has no running shutdown integration service (no OS yet, a VM created without
# an image, a hung guest); the VM is then turned off, and the message says so.
# Parameters: vm.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrVM ([string]$p.vm)
if ([string]$vm.State -eq 'Off') { return (Get-TlrResult 'already Off' $false) }
$how = 'stopped'
if ([string]$vm.State -eq 'Running') {
    try {
        Stop-VM -VM $vm -Force
    } catch {
        $why = $_.Exception.Message
        if ([string](Get-TlrVM ([string]$p.vm)).State -eq 'Off') { $why = $null }
        if ($null -ne $why) {
            Stop-VM -VM $vm -TurnOff -Force
            $how = 'turned off (the guest did not shut down: ' + $why + ')'
        }
    }
} else {
    Stop-VM -VM $vm -TurnOff -Force
    $how = 'turned off (it was ' + [string]$vm.State + ')'
}
$vm = Get-TlrVM ([string]$p.vm)
if ([string]$vm.State -ne 'Off') { Stop-Tlr 'not_applied' ('vm/{0}: Stop-VM returned but the VM is {1}' -f $p.vm, $vm.State) }
Get-TlrResult $how $true
