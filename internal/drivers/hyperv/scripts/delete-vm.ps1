$ErrorActionPreference = 'Stop'
# delete-vm: removes a VM that is Off, its cluster role and the disks stored under its folder.
# Parameters: vm.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrVM ([string]$p.vm)
Assert-TlrOff $vm 'delete-vm'
$disks = @(Get-VMHardDiskDrive -VM $vm | ForEach-Object { [string]$_.Path })
$vmPath = [string]$vm.Path
$owners = Get-TlrOwnerMap
$key = ([string]$vm.VMId).ToLowerInvariant()
if ($owners.ContainsKey($key) -and $owners[$key].Group) {
    Remove-ClusterGroup -Name $owners[$key].Group -RemoveResources -Force | Out-Null
}
Remove-VM -VM $vm -Force
foreach ($d in $disks) {
    if ($vmPath -and $d.StartsWith($vmPath, [StringComparison]::OrdinalIgnoreCase) -and (Test-Path -LiteralPath $d)) {
        Remove-Item -LiteralPath $d -Force
    }
}
$left = @(Get-VM -Name ([System.Management.Automation.WildcardPattern]::Escape([string]$p.vm)) -ErrorAction SilentlyContinue | Where-Object { $_.Name -ceq $p.vm })
if ($left.Count -gt 0) { Stop-Tlr 'not_applied' ('vm/{0}: Remove-VM returned but the VM is still there' -f $p.vm) }
Get-TlrResult 'deleted' $true
