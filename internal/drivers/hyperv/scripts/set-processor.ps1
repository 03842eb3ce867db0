$ErrorActionPreference = 'Stop'
# set-processor: the virtual processor count; needs the VM Off. Reads it back.
# Parameters: vm, processors.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrVM ([string]$p.vm)
$want = [int]$p.processors
if ([int]$vm.ProcessorCount -eq $want) { return (Get-TlrResult 'already so' $false) }
Assert-TlrOff $vm 'set-processor'
Set-VMProcessor -VM $vm -Count $want
$got = [int](Get-TlrVM ([string]$p.vm)).ProcessorCount
if ($got -ne $want) { Stop-Tlr 'not_applied' ('vm/{0}: Set-VMProcessor returned but the VM has {1} processors' -f $p.vm, $got) }
Get-TlrResult ('{0} processors' -f $want) $true
