$ErrorActionPreference = 'Stop'
# observe: everything tlreconcile needs to know about this node and the VMs it hosts, in one
# answer. Parameters: {"vm": "NAME"} limits the answer to that VM (empty: every VM).
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$owners = Get-TlrOwnerMap
$vms = @(Get-VM)
if ($p.vm) { $vms = @($vms | Where-Object { $_.Name -ceq $p.vm }) }
$reports = New-Object System.Collections.Generic.List[object]
foreach ($vm in $vms) { $reports.Add((ConvertTo-TlrVMReport $vm $owners)) }
$agent = $null
$status = Get-TlrAgentStatus
if ($null -ne $status) { $agent = [pscustomobject]@{ Status = $status } }
[pscustomobject]@{
    ComputerName   = [string]$env:COMPUTERNAME
    ClusterNodes   = (Get-TlrClusterNodes)
    IgvmAgent      = $agent
    MigrationIPsec = (Test-TlrMigrationIPsec)
    VMs            = $reports.ToArray()
}
