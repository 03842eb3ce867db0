$ErrorActionPreference = 'Stop'
# move-vm: moves a clustered VM's role to another node (Live when running, or as asked) and
# reads the owner back. Parameters: vm, targetNode, migrationType.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrVM ([string]$p.vm)
$owners = Get-TlrOwnerMap
$key = ([string]$vm.VMId).ToLowerInvariant()
if (-not $owners.ContainsKey($key)) {
    Stop-Tlr 'not_supported' ('vm/{0}: the VM is not a failover-cluster role, so it cannot be moved between nodes; make it highly available first' -f $p.vm)
}
$group = [string]$owners[$key].Group
if ([string]$owners[$key].Owner -eq [string]$p.targetNode) { return (Get-TlrResult 'already there' $false) }
$type = [string]$p.migrationType
if (-not $type) { if ([string]$vm.State -eq 'Running') { $type = 'Live' } else { $type = 'Quick' } }
Move-ClusterVirtualMachineRole -Name $group -Node ([string]$p.targetNode) -MigrationType $type | Out-Null
$owner = [string](Get-ClusterGroup -Name $group).OwnerNode.Name
if ($owner -ne [string]$p.targetNode) { Stop-Tlr 'not_applied' ('vm/{0}: Move-ClusterVirtualMachineRole returned but the owner is {1}' -f $p.vm, $owner) }
Get-TlrResult ('moved ({0})' -f $type) $true
