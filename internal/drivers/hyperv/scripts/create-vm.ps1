$ErrorActionPreference = 'Stop'
# create-vm: a Generation 2 VM (trusted launch: New-VM -GuestStateIsolationType TrustedLaunch,
# Windows Server 2025 Hyper-V; Generation 1 only for Standard) with tlreconcile's annotations
# in its Notes from the start, and a copy of an image-store VHDX (none: no disk) inside the
# VM's own folder, so that delete-vm removes exactly what create made. A host whose New-VM
# has no -GuestStateIsolationType fails not_supported, never a silent standard VM, and the
# isolation type is read back after the create; a create that fails after New-VM removes the
# VM and the disk it made. A trusted-launch VM needs this node's IGVmAgent.
# Parameters: name, generation, folder (file-system-safe folder under vmRoot), vmRoot,
# sourceVhdx, securityType, processors, memoryBytes, notes, clustered.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$existing = @(Get-VM -Name ([System.Management.Automation.WildcardPattern]::Escape([string]$p.name)) -ErrorAction SilentlyContinue | Where-Object { $_.Name -ceq $p.name })
if ($existing.Count -gt 0) { Stop-Tlr 'already_exists' ('vm/{0}: a VM with this name already exists on this node; choose another name, or delete the old VM first' -f $p.name) }
$trusted = ([string]$p.securityType -eq 'TrustedLaunch')
if ($trusted -and -not (Get-Command -Name New-VM).Parameters.ContainsKey('GuestStateIsolationType')) {
    Stop-Tlr 'not_supported' ('vm/{0}: New-VM on {1} has no -GuestStateIsolationType, so this host cannot create a trusted-launch VM (Windows Server 2025 Hyper-V can); declare securityType: Standard, or place the VM on a newer host' -f $p.name, $env:COMPUTERNAME)
}
if ($trusted -and (Get-TlrAgentStatus) -ne 'Running') {
    Stop-Tlr 'precondition' ('vm/{0}: IGVmAgent is not running on {1}, so the node cannot unlock a trusted-launch VM''s guest state; start-igvm-agent first, or create the VM on another node' -f $p.name, $env:COMPUTERNAME)
}
if ($p.sourceVhdx -and -not (Test-Path -LiteralPath ([string]$p.sourceVhdx) -PathType Leaf)) {
    Stop-Tlr 'precondition' ('vm/{0}: image VHDX {1} does not exist on this node; fix the imageStore option of the cluster' -f $p.name, $p.sourceVhdx)
}
$root = [string]$p.vmRoot
if (-not $root) { $root = [string](Get-VMHost).VirtualMachinePath }
$vmDir = Join-Path $root ([string]$p.folder)
if (Test-Path -LiteralPath $vmDir) { Stop-Tlr 'already_exists' ('vm/{0}: folder {1} already exists; remove the leftover VM or files first' -f $p.name, $vmDir) }
$newArgs = @{
    Name       = [string]$p.name
    Generation = [int16]$p.generation
    Path       = $vmDir
    NoVHD      = $true
}
if ($p.memoryBytes) { $newArgs['MemoryStartupBytes'] = [int64]$p.memoryBytes }
if ($trusted) { $newArgs['GuestStateIsolationType'] = 'TrustedLaunch' }
$vm = New-VM @newArgs
try {
    if ($trusted -and [string]$vm.GuestStateIsolationType -ne 'TrustedLaunch') {
        Stop-Tlr 'not_supported' ('vm/{0}: New-VM made a VM of isolation type {1}, not TrustedLaunch; the host cannot make trusted-launch VMs: declare securityType: Standard, or use another host' -f $p.name, $vm.GuestStateIsolationType)
    }
    if ($p.sourceVhdx) {
        $diskDir = Join-Path ([string]$vm.Path) 'Virtual Hard Disks'
        $disk = Join-Path $diskDir ([string]$p.folder + '.vhdx')
        New-Item -ItemType Directory -Path $diskDir -Force | Out-Null
        Copy-Item -LiteralPath ([string]$p.sourceVhdx) -Destination $disk
        Add-VMHardDiskDrive -VM $vm -Path $disk
    }
    if ($p.processors) { Set-VMProcessor -VM $vm -Count ([int]$p.processors) }
    Set-VM -VM $vm -Notes ([string]$p.notes)
    if ($p.clustered) {
        # -Name: the role is named after the VM, which find-vm relies on; without it the
        # cmdlet assigns a default role name.
        Add-ClusterVirtualMachineRole -VMId $vm.VMId -Name ([string]$p.name) | Out-Null
    }
} catch {
    $failure = $_
    Remove-VM -VM $vm -Force -ErrorAction SilentlyContinue
    Remove-Item -LiteralPath $vmDir -Recurse -Force -ErrorAction SilentlyContinue
    throw $failure
}
$vm = Get-TlrVM ([string]$p.name)
if ([int]$vm.Generation -ne [int]$p.generation) { Stop-Tlr 'not_applied' ('vm/{0}: created, but as Generation {1}' -f $p.name, $vm.Generation) }
if ($trusted -and [string]$vm.GuestStateIsolationType -ne 'TrustedLaunch') { Stop-Tlr 'not_applied' ('vm/{0}: created, but GuestStateIsolationType reads {1}' -f $p.name, $vm.GuestStateIsolationType) }
if ($p.processors -and [int]$vm.ProcessorCount -ne [int]$p.processors) { Stop-Tlr 'not_applied' ('vm/{0}: created, but with {1} processors instead of {2}' -f $p.name, $vm.ProcessorCount, $p.processors) }
if ([string]$vm.Notes -cne [string]$p.notes) { Stop-Tlr 'not_applied' ('vm/{0}: created, but its Notes did not take' -f $p.name) }
Get-TlrResult 'created' $true
