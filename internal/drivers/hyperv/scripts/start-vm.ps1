$ErrorActionPreference = 'Stop'
# start-vm: starts the VM and reads the state back. Only an isolated (trusted-launch) VM needs
# this node's IGVmAgent running to unlock its guest state; a standard VM with a vTPM depends on
# the host guardian's local key protector instead (DESIGN 1.2). Parameters: vm.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrVM ([string]$p.vm)
if ([string]$vm.State -eq 'Running') { return (Get-TlrResult 'already Running' $false) }
if ((Test-TlrIsolated $vm) -and (Get-TlrAgentStatus) -ne 'Running') {
    Stop-Tlr 'precondition' ('vm/{0}: IGVmAgent is not running on {1}, so the trusted-launch guest state cannot be unlocked; start-igvm-agent first' -f $p.vm, $env:COMPUTERNAME)
}
Start-VM -VM $vm
$vm = Get-TlrVM ([string]$p.vm)
if ([string]$vm.State -ne 'Running') { Stop-Tlr 'not_applied' ('vm/{0}: Start-VM returned but the VM is {1}' -f $p.vm, $vm.State) }
Get-TlrResult 'started' $true
