$ErrorActionPreference = 'Stop'
# node-status: this node's IGVmAgent service state, checked before a VM is moved here.
# Parameters: {} (none).
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
[pscustomobject]@{ ComputerName = [string]$env:COMPUTERNAME; IgvmAgent = (Get-TlrAgentStatus) }
