$ErrorActionPreference = 'Stop'
# tlreconcile PowerShell host: started once per node per run, it reads one request per
# stdin line,
#     TLR1 <id> <base64 UTF-8 script text> <base64 UTF-8 JSON parameters>
# runs the script with the still-encoded parameters as its only argument, and answers with
#     <<<TLR-BEGIN id>>>
#     <base64 UTF-8 JSON envelope: {"ok":true,"result":...} or {"ok":false,"error":{...}}>
#     <<<TLR-END id>>>
# Anything else the host prints lies outside the frames and is ignored. User values only ever
# travel inside the base64 parameters: this file and every op script are constant text.
# This loop is shared by every driver (psnode.NewHostScripts): the driver's own helpers come
# first in the same script text, and they, Stop-Tlr and the preferences below are visible to
# the op scripts, which run in a child scope.
$ProgressPreference = 'SilentlyContinue'
$WarningPreference = 'SilentlyContinue'
$InformationPreference = 'SilentlyContinue'
$VerbosePreference = 'SilentlyContinue'
$ConfirmPreference = 'None'

function Stop-Tlr {
    param([string]$Category, [string]$Message)
    $ex = New-Object System.InvalidOperationException $Message
    $ex.Data['tlrCategory'] = $Category
    throw $ex
}

function Write-TlrFrame {
    param([string]$Id, $Envelope)
    $json = ConvertTo-Json -InputObject $Envelope -Depth 12 -Compress
    $b64 = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($json))
    [Console]::Out.WriteLine('<<<TLR-BEGIN ' + $Id + '>>>')
    [Console]::Out.WriteLine($b64)
    [Console]::Out.WriteLine('<<<TLR-END ' + $Id + '>>>')
    [Console]::Out.Flush()
}

[Console]::Out.WriteLine('<<<TLR-READY 1>>>')
[Console]::Out.Flush()
while ($true) {
    $line = [Console]::In.ReadLine()
    if ($null -eq $line -or $line -eq 'TLR1 exit') { break }
    $parts = $line.Split(' ')
    if ($parts.Count -ne 4 -or $parts[0] -ne 'TLR1') { continue }
    $id = $parts[1]
    try {
        $text = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($parts[2]))
        $block = [ScriptBlock]::Create($text)
        $out = @(& $block $parts[3])
        $result = $null
        if ($out.Count -gt 0) { $result = $out[$out.Count - 1] }
        $envelope = [pscustomobject]@{ ok = $true; result = $result }
    } catch {
        $record = $_
        $category = $record.Exception.Data['tlrCategory']
        if ($null -eq $category) { $category = [string]$record.CategoryInfo.Category }
        $envelope = [pscustomobject]@{
            ok    = $false
            error = [pscustomobject]@{
                category = [string]$category
                message  = [string]$record.Exception.Message
                hresult  = [int64]$record.Exception.HResult
                errorId  = [string]$record.FullyQualifiedErrorId
            }
        }
    }
    try {
        Write-TlrFrame $id $envelope
    } catch {
        Write-TlrFrame $id ([pscustomobject]@{ ok = $false; error = [pscustomobject]@{ category = 'internal'; message = ('result could not be serialised: ' + $_.Exception.Message); hresult = 0; errorId = '' } })
    }
}
