$ErrorActionPreference = 'Stop'
# restrict-file-access: on the VM's configuration, guest-state and runtime-state files and
# their folders (from GuestStateDataRoot/GuestStateFile, not guessed), removes every Allow entry
# for anyone but BUILTIN\Administrators, SYSTEM and the VM's own virtual account, with
# inheritance cut so that later moves keep it so. Only the DACL is written
# (SetAccessControl with the Access section): Set-Acl also writes the owner, which fails on
# files SYSTEM owns, and the owner is never rewritten: an owner outside those accounts is
# reported for an administrator to fix. Verifies with the same test observe uses.
# Parameters: vm.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrVM ([string]$p.vm)
if ((Test-TlrFileAccess $vm) -eq 'hostAdminsOnly') { return (Get-TlrResult 'already restricted' $false) }
$paths = Get-TlrStatePaths $vm
if ($paths.Count -eq 0) { Stop-Tlr 'not_found' ('vm/{0}: Hyper-V reports no configuration or guest-state file for it' -f $p.vm) }
$vmSid = Get-TlrVMSid $vm
$access = [System.Security.AccessControl.AccessControlSections]::Access
foreach ($path in $paths) {
    $item = Get-Item -LiteralPath $path -Force
    $owner = (Get-Acl -LiteralPath $path).GetOwner([System.Security.Principal.SecurityIdentifier]).Value
    if (-not (Test-TlrAllowedSid $owner $vmSid)) {
        Stop-Tlr 'precondition' ('vm/{0}: {1} is owned by {2}, not by Administrators, SYSTEM or the VM; tlreconcile does not rewrite owners: have an administrator take ownership (icacls /setowner *S-1-5-32-544), then apply again' -f $p.vm, $path, $owner)
    }
    $acl = $item.GetAccessControl($access)
    $acl.SetAccessRuleProtection($true, $true)
    $item.SetAccessControl($acl)
    $acl = $item.GetAccessControl($access)
    foreach ($rule in @($acl.GetAccessRules($true, $false, [System.Security.Principal.SecurityIdentifier]))) {
        if ([string]$rule.AccessControlType -ne 'Allow') { continue }
        if (-not (Test-TlrAllowedSid $rule.IdentityReference.Value $vmSid)) { [void]$acl.RemoveAccessRuleAll($rule) }
    }
    $item.SetAccessControl($acl)
}
$verdict = Test-TlrFileAccess (Get-TlrVM ([string]$p.vm))
if ($verdict -ne 'hostAdminsOnly') { Stop-Tlr 'not_applied' ('vm/{0}: ACLs rewritten but the verdict is {1}' -f $p.vm, $verdict) }
Get-TlrResult 'file access restricted to Administrators, SYSTEM and the VM' $true
