$ErrorActionPreference = 'Stop'
# find-vm: which node owns a VM, from the failover cluster (any node can answer) or, for a
# standalone VM, whether it is on this node. Parameters: vm.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$owner = $null
if (Get-Command -Name Get-ClusterGroup -ErrorAction SilentlyContinue) {
    try {
        $g = @(Get-ClusterGroup -ErrorAction Stop | Where-Object { [string]$_.GroupType -eq 'VirtualMachine' -and $_.Name -ceq $p.vm })
        if ($g.Count -eq 1) { $owner = [string]$g[0].OwnerNode.Name }
    } catch { }
}
$local = @(Get-VM -Name ([System.Management.Automation.WildcardPattern]::Escape([string]$p.vm)) -ErrorAction SilentlyContinue | Where-Object { $_.Name -ceq $p.vm })
[pscustomobject]@{ OwnerNode = $owner; Local = ($local.Count -gt 0) }
