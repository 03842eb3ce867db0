$ErrorActionPreference = 'Stop'
# restrict-file-access: sets the owner of the VM's guest state file (GuestStateDataRoot/
# GuestStateFile) to Administrators and its access to Administrators, SYSTEM and the VM's own
# virtual account NT VIRTUAL MACHINE\<VMId> only, inheritance cut, so no other VM and no
# other user can read the vTPM state. Parameters: vmId, vm, infrastructure.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrOwnedVM $p
$state = Get-TlrStateFilePath $vm (Get-TlrSettingsMap)
if ($null -eq $state -or -not (Test-Path -LiteralPath $state.Path)) {
    Stop-Tlr 'not_found' ('vm/{0}: its guest state file was not found' -f $p.vm)
}
$admins = New-Object System.Security.Principal.SecurityIdentifier 'S-1-5-32-544'
$system = New-Object System.Security.Principal.SecurityIdentifier 'S-1-5-18'
$self = (New-Object System.Security.Principal.NTAccount ('NT VIRTUAL MACHINE\' + [string]$vm.VMId)).Translate([System.Security.Principal.SecurityIdentifier])
$acl = New-Object System.Security.AccessControl.FileSecurity
$acl.SetOwner($admins)
$acl.SetAccessRuleProtection($true, $false)
foreach ($sid in @($admins, $system, $self)) {
    $acl.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule($sid, 'FullControl', 'Allow')))
}
Set-Acl -LiteralPath $state.Path -AclObject $acl
$after = Get-TlrFileSecurity $state.Path
foreach ($rule in @($after.Access)) {
    if ($rule.Sid -ne $admins.Value -and $rule.Sid -ne $system.Value -and $rule.Sid -ne $self.Value) {
        Stop-Tlr 'not_applied' ('vm/{0}: Set-Acl returned but {1} still has access' -f $p.vm, $rule.Sid)
    }
}
Get-TlrResult 'guest state file access restricted to Administrators, SYSTEM and the VM' $true
