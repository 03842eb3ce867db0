$ErrorActionPreference = 'Stop'
# move-vm: live-migrates a clustered VM's role to another node of the cluster (the vTPM state
# goes with it) and reads the owner back. Parameters: vmId, vm, targetNode, infrastructure.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrOwnedVM $p
$target = [string]$p.targetNode
if (-not $target) { Stop-Tlr 'invalid_argument' ('vm/{0}: move-vm needs targetNode' -f $p.vm) }
$id = [string]$vm.VMId
$group = $null
foreach ($res in @(Get-ClusterResource | Where-Object { [string]$_.ResourceType.Name -eq 'Virtual Machine' })) {
    if ([string]($res | Get-ClusterParameter -Name VmID).Value -eq $id) { $group = $res.OwnerGroup }
}
if ($null -eq $group) {
    Stop-Tlr 'not_supported' ('vm/{0}: the VM is not a failover-cluster role, so it cannot be live-migrated' -f $p.vm)
}
if ([string]$group.OwnerNode.Name -eq $target) { return (Get-TlrResult 'already there' $false) }
$type = 'Live'
if ([string]$vm.State -ne 'Running') { $type = 'Quick' }
Move-ClusterVirtualMachineRole -InputObject $group -Node $target -MigrationType $type | Out-Null
$owner = [string](Get-ClusterGroup -InputObject $group).OwnerNode.Name
if ($owner -ne $target) { Stop-Tlr 'not_applied' ('vm/{0}: Move-ClusterVirtualMachineRole returned but the owner is {1}' -f $p.vm, $owner) }
Get-TlrResult ('moved to {0} ({1} migration)' -f $target, $type) $true
