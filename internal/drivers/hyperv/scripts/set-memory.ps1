$ErrorActionPreference = 'Stop'
# set-memory: the startup memory; a change needs the VM Off (static memory). Reads it back.
# Parameters: vm, memoryBytes.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrVM ([string]$p.vm)
$want = [int64]$p.memoryBytes
if ([int64]$vm.MemoryStartup -eq $want) { return (Get-TlrResult 'already so' $false) }
Assert-TlrOff $vm 'set-memory'
Set-VMMemory -VM $vm -StartupBytes $want
$got = [int64](Get-TlrVM ([string]$p.vm)).MemoryStartup
if ($got -ne $want) { Stop-Tlr 'not_applied' ('vm/{0}: Set-VMMemory returned but startup memory is {1} bytes' -f $p.vm, $got) }
Get-TlrResult ('{0} bytes startup memory' -f $want) $true
