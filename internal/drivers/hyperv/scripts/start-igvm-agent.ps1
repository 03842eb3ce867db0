$ErrorActionPreference = 'Stop'
# start-igvm-agent: starts this node's IGVmAgent service, which unlocks trusted-launch VMs'
# guest state. Its startup type is the administrator's and is never changed. A node without
# the service must be redeployed. Reads the status back. Parameters: {}.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$status = Get-TlrAgentStatus
if ($null -eq $status) { Stop-Tlr 'precondition' ('node/{0}: IGVmAgent is not installed; redeploy the node with IgvmAgent' -f $env:COMPUTERNAME) }
if ($status -eq 'Running') { return (Get-TlrResult 'already running' $false) }
Start-Service -Name 'IGVmAgent'
$status = Get-TlrAgentStatus
if ($status -ne 'Running') { Stop-Tlr 'not_applied' ('node/{0}: Start-Service returned but IGVmAgent is {1} (a Disabled startup type is the administrator''s decision; tlreconcile does not change it)' -f $env:COMPUTERNAME, $status) }
Get-TlrResult 'IGVmAgent started' $true
