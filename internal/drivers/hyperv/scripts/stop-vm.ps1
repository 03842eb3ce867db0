$ErrorActionPreference = 'Stop'
# stop-vm: shuts the VM down (Saved and Paused VMs are turned off) and reads the state back.
# Parameters: vm.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrVM ([string]$p.vm)
if ([string]$vm.State -eq 'Off') { return (Get-TlrResult 'already Off' $false) }
if ([string]$vm.State -eq 'Running') { Stop-VM -VM $vm -Force } else { Stop-VM -VM $vm -TurnOff -Force }
$vm = Get-TlrVM ([string]$p.vm)
if ([string]$vm.State -ne 'Off') { Stop-Tlr 'not_applied' ('vm/{0}: Stop-VM returned but the VM is {1}' -f $p.vm, $vm.State) }
Get-TlrResult 'stopped' $true
