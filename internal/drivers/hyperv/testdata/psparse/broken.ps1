$ErrorActionPreference = 'Stop'
# A deliberately broken script: the parse check must reject it.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
if ($p.vm {
    Stop-VM -Name $p.vm
