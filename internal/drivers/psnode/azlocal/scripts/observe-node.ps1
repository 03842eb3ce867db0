$ErrorActionPreference = 'Stop'
# observe-node: everything the azurelocal driver needs from one node that ARM does not show,
# in one round trip: every VM on the node (Name, VMId, State, GuestStateIsolationType, Secure
# Boot, the guest state file from GuestStateDataRoot/GuestStateFile with its owner and access
# rules), the guest state protection keys in the MOC key vault (names, types and sizes, never
# material), the host agents, the live-migration transport and how it is encrypted, the
# cluster's nodes, and the key backups under backupRoot. Parameters: infrastructure (VM
# names that are Azure Local infrastructure), backupRoot (optional), vmId (optional: report only
# that VM), noVMs (optional: report no VM; the node's facts only).
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$settings = Get-TlrSettingsMap
$vms = New-Object System.Collections.Generic.List[object]
$all = @(Get-VM | Sort-Object -Property @('Name', 'VMId'))
if ([bool]$p.noVMs) {
    $all = @()
} elseif ([string]$p.vmId) {
    $all = @($all | Where-Object { [string]$_.VMId -eq [string]$p.vmId })
}
foreach ($vm in $all) {
    $secureBoot = $null
    if ([int]$vm.Generation -eq 2) { $secureBoot = ([string](Get-VMFirmware -VM $vm).SecureBoot -eq 'On') }
    $isolation = $null
    if ($null -ne $vm.GuestStateIsolationType) { $isolation = [string]$vm.GuestStateIsolationType }
    $state = Get-TlrStateFilePath $vm $settings
    $root = $null; $file = $null; $security = $null
    if ($null -ne $state) {
        $root = $state.Root; $file = $state.File
        $security = Get-TlrFileSecurity $state.Path
    }
    $vms.Add([pscustomobject]@{
        Name                    = [string]$vm.Name
        VMId                    = [string]$vm.VMId
        State                   = [string]$vm.State
        Generation              = [int]$vm.Generation
        GuestStateIsolationType = $isolation
        SecureBoot              = $secureBoot
        IsClustered             = [bool]$vm.IsClustered
        Infrastructure          = (Test-TlrInfrastructure $vm $p.infrastructure)
        Managed                 = $null
        GuestStateDataRoot      = $root
        GuestStateFile          = $file
        StateFile               = $security
    })
}

$vault = [pscustomobject]@{ Available = $false; Error = ''; Keys = @() }
try {
    $keys = New-Object System.Collections.Generic.List[object]
    foreach ($k in @(Get-MocKey -group 'AzureStackHostAttestation' -keyvaultName 'AzureStackTvmKeyVault')) {
        $keys.Add([pscustomobject]@{ Name = [string]$k.Name; Type = [string]$k.properties.kty; Size = [int]$k.properties.key_size })
    }
    $vault = [pscustomobject]@{ Available = $true; Error = ''; Keys = $keys.ToArray() }
} catch {
    $vault = [pscustomobject]@{ Available = $false; Error = [string]$_.Exception.Message; Keys = @() }
}

$agents = @(foreach ($name in @('IGVmAgent', 'wssdagent', 'wssdcloudagent')) {
    [pscustomobject]@{ Name = $name; Status = (Get-TlrServiceStatus $name) }
})

$vmhost = Get-VMHost
$migration = [pscustomobject]@{
    Enabled       = [bool]$vmhost.VirtualMachineMigrationEnabled
    Transport     = [string]$vmhost.VirtualMachineMigrationPerformanceOption
    IPsec         = (Get-TlrMigrationIPsec)
    SMBEncryption = (Get-TlrSmbClusterEncryption)
}

$cluster = $null
if (Get-Command -Name Get-ClusterNode -ErrorAction SilentlyContinue) {
    try {
        $nodes = @(Get-ClusterNode -ErrorAction Stop | Sort-Object Name | ForEach-Object { [pscustomobject]@{ Name = [string]$_.Name; State = [string]$_.State } })
        $cluster = [pscustomobject]@{ Name = [string](Get-Cluster -ErrorAction Stop).Name; Nodes = $nodes }
    } catch { $cluster = $null }
}

[pscustomobject]@{
    ComputerName  = [string]$env:COMPUTERNAME
    VMs           = $vms.ToArray()
    KeyVault      = $vault
    Agents        = $agents
    LiveMigration = $migration
    Cluster       = $cluster
    Backups       = (Get-TlrBackups ([string]$p.backupRoot))
}
