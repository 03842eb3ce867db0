$ErrorActionPreference = 'Stop'
# restrict-file-access: removes every Allow entry for anyone but host administrators, SYSTEM,
# Hyper-V Administrators and the VM's own account from the VM's configuration folder and its
# state files, with inheritance cut so that later moves keep it so. Verifies with the same test
# observe uses. Parameters: vm.
$p = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($args[0])) | ConvertFrom-Json
$vm = Get-TlrVM ([string]$p.vm)
if ((Test-TlrFileAccess $vm) -eq 'hostAdminsOnly') { return (Get-TlrResult 'already restricted' $false) }
$paths = Get-TlrStatePaths $vm
if ($paths.Count -eq 0) { Stop-Tlr 'not_found' ('vm/{0}: its configuration folder was not found' -f $p.vm) }
foreach ($path in $paths) {
    $acl = Get-Acl -LiteralPath $path
    $acl.SetAccessRuleProtection($true, $true)
    Set-Acl -LiteralPath $path -AclObject $acl
    $acl = Get-Acl -LiteralPath $path
    foreach ($rule in @($acl.GetAccessRules($true, $false, [System.Security.Principal.SecurityIdentifier]))) {
        if (-not (Test-TlrAllowedSid $rule.IdentityReference.Value)) { [void]$acl.RemoveAccessRuleAll($rule) }
    }
    Set-Acl -LiteralPath $path -AclObject $acl
}
$verdict = Test-TlrFileAccess (Get-TlrVM ([string]$p.vm))
if ($verdict -ne 'hostAdminsOnly') { Stop-Tlr 'not_applied' ('vm/{0}: ACLs rewritten but the verdict is {1}' -f $p.vm, $verdict) }
Get-TlrResult 'file access restricted to host administrators' $true
