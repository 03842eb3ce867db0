$ErrorActionPreference = 'Stop'
# delete-vm: removes a VM that is Off, its cluster role, and exactly the disks create-vm made:
# those inside the VM's own folder (a path compare with the separator, so that C:\VMs\a does
# not take C:\VMs\ab's disks), then the folders create made when they are left empty. Disks
# outside the folder (attached by an administrator) are kept. Parameters: vm.
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
    if ((Test-TlrUnder $d $vmPath) -and (Test-Path -LiteralPath $d)) { Remove-Item -LiteralPath $d -Force }
}
if ($vmPath) {
    # The parent only when it is a folder create-vm names (NAME-xxxxxxxx), never vmRoot itself.
    $dirs = @((Join-Path $vmPath 'Virtual Hard Disks'), $vmPath)
    $parent = Split-Path -Parent $vmPath
    if ((Split-Path -Leaf $parent) -match '-[0-9a-f]{8}$') { $dirs += $parent }
    foreach ($dir in $dirs) {
        if ((Test-Path -LiteralPath $dir -PathType Container) -and @(Get-ChildItem -LiteralPath $dir -Force).Count -eq 0) {
            Remove-Item -LiteralPath $dir -Force
        }
    }
}
$left = @(Get-VM -Name ([System.Management.Automation.WildcardPattern]::Escape([string]$p.vm)) -ErrorAction SilentlyContinue | Where-Object { $_.Name -ceq $p.vm })
if ($left.Count -gt 0) { Stop-Tlr 'not_applied' ('vm/{0}: Remove-VM returned but the VM is still there' -f $p.vm) }
Get-TlrResult 'deleted' $true
