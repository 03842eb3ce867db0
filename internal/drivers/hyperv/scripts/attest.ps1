$ErrorActionPreference = 'Stop'
# attest: runs tlreconcile's guest agent inside the VM through PowerShell Direct
# (Invoke-Command -VMId from the Hyper-V host that runs the VM: no network path into the guest
# and no remoting configured in it; the guest must be Windows 10 / Windows Server 2016 or
# later, running, and the account must have signed in there once), signed in with the guest
# credential the caller resolved from its reference for this request. The agent's path and
# arguments travel as data (-ArgumentList), never as script text. The password is not in the
# parameters: it is the line after the request on stdin (base64 UTF-8), read here with .NET and
# put into a SecureString one character at a time, so no cmdlet ever holds it as an argument
# (a host's PowerShell module logging records cmdlet arguments, event 4103); it is read first,
# whatever happens next, so the line never reaches the host loop. Answers whether the guest was
# reached (Ran) and, when it was, the agent's exit code and what it printed. Parameters: vm,
# guestUser, agentPath, agentArgs; then the password line.
$secure = New-Object System.Security.SecureString
foreach ($ch in [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String([Console]::In.ReadLine())).ToCharArray()) { $secure.AppendChar($ch) }
$secure.MakeReadOnly()
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrVM ([string]$p.vm)
if ([string]$vm.State -ne 'Running') {
    return [pscustomobject]@{ Ran = $false; Problem = 'vm-not-running'; ExitCode = 0; Output = ''; Error = ('vm/{0} is {1}: PowerShell Direct reaches running VMs only' -f $p.vm, $vm.State) }
}
$cred = New-Object System.Management.Automation.PSCredential ([string]$p.guestUser, $secure)
$agent = [string]$p.agentPath
$agentArgs = [string[]]@($p.agentArgs)
$inGuest = {
    param([string]$Agent, [string[]]$AgentArgs)
    $ErrorActionPreference = 'Continue'
    if (-not (Test-Path -LiteralPath $Agent -PathType Leaf)) {
        return [pscustomobject]@{ ExitCode = 127; Output = ''; Error = ('{0}: not found (install tlreconcile in the image)' -f $Agent) }
    }
    $all = @(& $Agent 'guest' @AgentArgs 2>&1)
    $code = $LASTEXITCODE
    $out = @($all | Where-Object { $_ -isnot [System.Management.Automation.ErrorRecord] } | ForEach-Object { [string]$_ }) -join "`n"
    $err = @($all | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] } | ForEach-Object { [string]$_ }) -join "`n"
    [pscustomobject]@{ ExitCode = [int]$code; Output = $out; Error = $err }
}
try {
    $r = Invoke-Command -VMId $vm.VMId -Credential $cred -ScriptBlock $inGuest -ArgumentList $agent, $agentArgs -ErrorAction Stop
} catch {
    return [pscustomobject]@{ Ran = $false; Problem = 'powershell-direct-failed'; ExitCode = 0; Output = ''; Error = [string]$_.Exception.Message }
}
[pscustomobject]@{ Ran = $true; Problem = ''; ExitCode = [int]$r.ExitCode; Output = [string]$r.Output; Error = [string]$r.Error }
