$ErrorActionPreference = 'Stop'
# observe: everything tlreconcile needs to know about this node and the VMs it hosts, in one
# answer. A VM whose report fails (one cmdlet throws for it) is answered with its name, VMId
# and the error, and the other VMs are still reported: one broken VM never hides the node.
# Parameters: {"vm": "NAME"} limits the answer to that VM (empty: every VM).
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$owners = Get-TlrOwnerMap
$vms = @(Get-VM)
if ($p.vm) { $vms = @($vms | Where-Object { $_.Name -ceq $p.vm }) }
$reports = New-Object System.Collections.Generic.List[object]
foreach ($vm in $vms) {
    try {
        $reports.Add((ConvertTo-TlrVMReport $vm $owners))
    } catch {
        $reports.Add([pscustomobject]@{ Name = [string]$vm.Name; VMId = [string]$vm.VMId; Error = [string]$_.Exception.Message })
    }
}
$agent = $null
$status = Get-TlrAgentStatus
if ($null -ne $status) { $agent = [pscustomobject]@{ Status = $status } }
$lm = Get-TlrMigrationTransport
[pscustomobject]@{
    ComputerName       = [string]$env:COMPUTERNAME
    ClusterNodes       = (Get-TlrClusterNodes)
    IgvmAgent          = $agent
    MigrationIPsec     = (Test-TlrMigrationIPsec)
    MigrationTransport = $lm.Transport
    SmbEncryption      = $lm.SmbEncryption
    VMs                = $reports.ToArray()
}
