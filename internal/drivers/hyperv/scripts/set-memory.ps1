$ErrorActionPreference = 'Stop'
# set-memory: the startup memory, reads it back. Static memory of a running VM is resized in
# place (runtime memory resize, Windows Server 2016 and later hosts and guests); a host or
# guest that cannot refuses, and the error says to stop the VM. Parameters: vm, memoryBytes.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrVM ([string]$p.vm)
$want = [int64]$p.memoryBytes
if ([int64]$vm.MemoryStartup -eq $want) { return (Get-TlrResult 'already so' $false) }
try {
    Set-VMMemory -VM $vm -StartupBytes $want
} catch {
    if ([string]$vm.State -ne 'Off') {
        Stop-Tlr 'invalid_state' ('vm/{0}: the host did not resize the memory of the {1} VM ({2}); stop it first' -f $p.vm, $vm.State, $_.Exception.Message)
    }
    throw
}
$got = [int64](Get-TlrVM ([string]$p.vm)).MemoryStartup
if ($got -ne $want) { Stop-Tlr 'not_applied' ('vm/{0}: Set-VMMemory returned but startup memory is {1} bytes' -f $p.vm, $got) }
Get-TlrResult ('{0} bytes startup memory' -f $want) $true
