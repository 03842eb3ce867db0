$ErrorActionPreference = 'Stop'
# create-vm: a Generation 2 VM (trusted launch where the host supports it; Generation 1 only
# for Standard) from a copy of an image-store VHDX (none: no disk), with tlreconcile's
# annotations in its Notes from the start. A trusted-launch VM needs this node's IGVmAgent.
# Parameters: name, generation, folder (file-system-safe folder under vmRoot), vmRoot,
# sourceVhdx, securityType, processors, memoryBytes, notes, clustered.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$existing = @(Get-VM -Name ([System.Management.Automation.WildcardPattern]::Escape([string]$p.name)) -ErrorAction SilentlyContinue | Where-Object { $_.Name -ceq $p.name })
if ($existing.Count -gt 0) { Stop-Tlr 'already_exists' ('vm/{0}: a VM with this name already exists on this node; choose another name, or delete the old VM first' -f $p.name) }
$trusted = ([string]$p.securityType -eq 'TrustedLaunch')
if ($trusted -and (Get-TlrAgentStatus) -ne 'Running') {
    Stop-Tlr 'precondition' ('node {0}: IGVmAgent is not running, so the node cannot unlock a trusted-launch VM''s guest state; start-igvm-agent first, or create the VM on another node' -f $env:COMPUTERNAME)
}
$root = [string]$p.vmRoot
if (-not $root) { $root = [string](Get-VMHost).VirtualMachinePath }
$vmDir = Join-Path $root ([string]$p.folder)
$newArgs = @{
    Name       = [string]$p.name
    Generation = [int16]$p.generation
    Path       = $vmDir
}
if ($p.memoryBytes) { $newArgs['MemoryStartupBytes'] = [int64]$p.memoryBytes }
if ($p.sourceVhdx) {
    if (-not (Test-Path -LiteralPath ([string]$p.sourceVhdx) -PathType Leaf)) {
        Stop-Tlr 'precondition' ('vm/{0}: image VHDX {1} does not exist on this node; fix the imageStore option of the cluster' -f $p.name, $p.sourceVhdx)
    }
    $diskDir = Join-Path $vmDir 'Virtual Hard Disks'
    $disk = Join-Path $diskDir ([string]$p.folder + '.vhdx')
    if (Test-Path -LiteralPath $disk) { Stop-Tlr 'already_exists' ('vm/{0}: disk {1} already exists; remove it or the leftover VM first' -f $p.name, $disk) }
    New-Item -ItemType Directory -Path $diskDir -Force | Out-Null
    Copy-Item -LiteralPath ([string]$p.sourceVhdx) -Destination $disk
    $newArgs['VHDPath'] = $disk
} else {
    $newArgs['NoVHD'] = $true
}
if ($trusted -and (Get-Command -Name New-VM).Parameters.ContainsKey('GuestStateIsolationType')) {
    $newArgs['GuestStateIsolationType'] = 'TrustedLaunch'
}
$vm = New-VM @newArgs
if ($p.processors) { Set-VMProcessor -VM $vm -Count ([int]$p.processors) }
Set-VM -VM $vm -Notes ([string]$p.notes)
if ($p.clustered -and (Get-Command -Name Add-ClusterVirtualMachineRole -ErrorAction SilentlyContinue)) {
    # -Name: the role is named after the VM, which find-vm relies on; without it the
    # cmdlet assigns a default role name.
    Add-ClusterVirtualMachineRole -VMId $vm.VMId -Name ([string]$p.name) | Out-Null
}
$vm = Get-TlrVM ([string]$p.name)
if ([int]$vm.Generation -ne [int]$p.generation) { Stop-Tlr 'not_applied' ('vm/{0}: created, but as Generation {1}' -f $p.name, $vm.Generation) }
if ($p.processors -and [int]$vm.ProcessorCount -ne [int]$p.processors) { Stop-Tlr 'not_applied' ('vm/{0}: created, but with {1} processors instead of {2}' -f $p.name, $vm.ProcessorCount, $p.processors) }
if ([string]$vm.Notes -cne [string]$p.notes) { Stop-Tlr 'not_applied' ('vm/{0}: created, but its Notes did not take' -f $p.name) }
Get-TlrResult 'created' $true
