$ErrorActionPreference = 'Stop'
# start-igvm-agent: starts the IGVmAgent service, which every trusted-launch VM on the node
# needs, and reads its status back. Parameters: none.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$svc = Get-Service -Name 'IGVmAgent' -ErrorAction SilentlyContinue
if ($null -eq $svc) { Stop-Tlr 'precondition' 'node: IGVmAgent is not installed; install the Azure Local trusted-launch components' }
if ([string]$svc.Status -eq 'Running') { return (Get-TlrResult 'IGVmAgent already running' $false) }
Start-Service -Name 'IGVmAgent'
$status = [string](Get-Service -Name 'IGVmAgent').Status
if ($status -ne 'Running') { Stop-Tlr 'not_applied' ('node: Start-Service returned but IGVmAgent is {0}' -f $status) }
Get-TlrResult 'IGVmAgent started' $true
