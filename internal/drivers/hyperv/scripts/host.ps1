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
# The helpers below are visible to the op scripts, which run in a child scope.
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

function Get-TlrVM {
    param([string]$Name)
    $pattern = [System.Management.Automation.WildcardPattern]::Escape($Name)
    $found = @(Get-VM -Name $pattern -ErrorAction SilentlyContinue | Where-Object { $_.Name -ceq $Name })
    if ($found.Count -eq 0) { Stop-Tlr 'not_found' ('vm/{0}: no such VM on this node' -f $Name) }
    if ($found.Count -gt 1) { Stop-Tlr 'precondition' ('vm/{0}: {1} VMs have this name on this node; rename all but one' -f $Name, $found.Count) }
    return $found[0]
}

function Assert-TlrOff {
    param($VM, [string]$What)
    $state = [string]$VM.State
    if ($state -ne 'Off') {
        Stop-Tlr 'invalid_state' ('vm/{0}: {1} needs the VM Off but it is {2} (error 32775); stop it first' -f $VM.Name, $What, $state)
    }
}

function Assert-TlrGeneration2 {
    param($VM, [string]$What)
    if ([int]$VM.Generation -ne 2) {
        Stop-Tlr 'precondition' ('vm/{0}: {1} needs a Generation 2 VM and this one is Generation {2}; a Generation 1 VM cannot be converted, replace it' -f $VM.Name, $What, $VM.Generation)
    }
}

function Get-TlrKeyProtectorRaw {
    # The key protector as base64, or $null; the caller decides what counts as "none"
    # ($null, empty, or the 4-byte placeholder AAAABA==). A Generation 1 VM has none. With
    # -Strict a failing Get-VMKeyProtector is an error rather than "none": a script that
    # writes a key protector must never take an unreadable one for a missing one, since
    # replacing it destroys what the vTPM sealed.
    param($VM, [switch]$Strict)
    if ([int]$VM.Generation -ne 2) { return $null }
    $kp = $null
    if ($Strict) {
        $kp = Get-VMKeyProtector -VM $VM
    } else {
        try { $kp = Get-VMKeyProtector -VM $VM } catch { return $null }
    }
    if ($null -eq $kp) { return $null }
    $bytes = [byte[]]@($kp)
    if ($bytes.Length -eq 0) { return $null }
    return [Convert]::ToBase64String($bytes)
}

function Test-TlrKeyProtector {
    param($VM)
    $raw = Get-TlrKeyProtectorRaw $VM -Strict
    return ($null -ne $raw -and $raw -ne 'AAAABA==')
}

function Test-TlrAllowedSid {
    # Host administrators, SYSTEM, Hyper-V Administrators, CREATOR OWNER and the VMs'
    # own virtual accounts (NT VIRTUAL MACHINE\<VMId>, S-1-5-83-...).
    param([string]$Sid)
    if ($Sid -eq 'S-1-5-32-544' -or $Sid -eq 'S-1-5-18' -or $Sid -eq 'S-1-5-32-578' -or $Sid -eq 'S-1-3-0') { return $true }
    return $Sid.StartsWith('S-1-5-83-')
}

function Get-TlrStatePaths {
    # The VM's configuration folder plus its configuration, guest-state (.vmgs) and
    # runtime-state (.vmrs) files; empty when the folder cannot be found.
    param($VM)
    $paths = New-Object System.Collections.Generic.List[string]
    $dir = Join-Path ([string]$VM.ConfigurationLocation) 'Virtual Machines'
    if (-not (Test-Path -LiteralPath $dir)) { return ,$paths }
    $paths.Add($dir)
    $id = [string]$VM.VMId
    foreach ($f in @(Get-ChildItem -LiteralPath $dir -File -ErrorAction SilentlyContinue)) {
        if ($f.Name.StartsWith($id, [StringComparison]::OrdinalIgnoreCase)) { $paths.Add($f.FullName) }
    }
    return ,$paths
}

function Test-TlrFileAccess {
    param($VM)
    try {
        $paths = Get-TlrStatePaths $VM
        if ($paths.Count -eq 0) { return 'unknown' }
        foreach ($path in $paths) {
            $acl = Get-Acl -LiteralPath $path
            foreach ($rule in $acl.GetAccessRules($true, $true, [System.Security.Principal.SecurityIdentifier])) {
                if ([string]$rule.AccessControlType -ne 'Allow') { continue }
                if (-not (Test-TlrAllowedSid $rule.IdentityReference.Value)) { return 'violation' }
            }
        }
        return 'hostAdminsOnly'
    } catch {
        return 'unknown'
    }
}

function Test-TlrVmgs {
    # Heuristic for "the vTPM has been initialised": a non-empty guest-state file exists.
    param($VM)
    try {
        foreach ($path in (Get-TlrStatePaths $VM)) {
            if ($path.EndsWith('.vmgs', [StringComparison]::OrdinalIgnoreCase) -and (Get-Item -LiteralPath $path).Length -gt 0) { return $true }
        }
    } catch { }
    return $false
}

function Get-TlrAgentStatus {
    $svc = Get-Service -Name 'IGVmAgent' -ErrorAction SilentlyContinue
    if ($null -eq $svc) { return $null }
    return [string]$svc.Status
}

function Test-TlrMigrationIPsec {
    # True when an enabled IPsec rule requires protection for live-migration traffic (TCP 6600).
    # ActiveStore: the effective policy, including rules that Group Policy delivers; without
    # -PolicyStore the NetSecurity cmdlets read only the local PersistentStore.
    try {
        foreach ($rule in @(Get-NetIPsecRule -PolicyStore ActiveStore -Enabled True -ErrorAction SilentlyContinue)) {
            if ([string]$rule.InboundSecurity -ne 'Require' -and [string]$rule.OutboundSecurity -ne 'Require') { continue }
            foreach ($pf in @($rule | Get-NetFirewallPortFilter -PolicyStore ActiveStore -ErrorAction SilentlyContinue)) {
                $proto = [string]$pf.Protocol
                if ($proto -ne 'TCP' -and $proto -ne 'Any' -and $proto -ne '6') { continue }
                $ports = @($pf.LocalPort) + @($pf.RemotePort) | ForEach-Object { [string]$_ }
                if ($ports -contains '6600' -or $ports -contains 'Any') { return $true }
            }
        }
    } catch { }
    return $false
}

function Get-TlrOwnerMap {
    # VMId (lower case) -> cluster group name and owner node, from the failover cluster.
    $map = @{}
    if (-not (Get-Command -Name Get-ClusterResource -ErrorAction SilentlyContinue)) { return $map }
    try {
        $owners = @{}
        foreach ($g in @(Get-ClusterGroup -ErrorAction Stop)) { $owners[[string]$g.Name] = [string]$g.OwnerNode.Name }
        foreach ($res in @(Get-ClusterResource -ErrorAction Stop | Where-Object { [string]$_.ResourceType.Name -eq 'Virtual Machine' })) {
            $id = [string]($res | Get-ClusterParameter -Name VmID).Value
            $group = [string]$res.OwnerGroup.Name
            $map[$id.ToLowerInvariant()] = [pscustomobject]@{ Group = $group; Owner = $owners[$group] }
        }
    } catch { }
    return $map
}

function Get-TlrClusterNodes {
    if (-not (Get-Command -Name Get-ClusterNode -ErrorAction SilentlyContinue)) { return $null }
    try {
        return @(Get-ClusterNode -ErrorAction Stop | ForEach-Object { [pscustomobject]@{ Name = [string]$_.Name; State = [string]$_.State } })
    } catch {
        return $null
    }
}

function ConvertTo-TlrVMReport {
    param($VM, $Owners)
    $firmware = $null
    if ([int]$VM.Generation -eq 2) {
        $f = Get-VMFirmware -VM $VM
        $firmware = [pscustomobject]@{
            SecureBoot           = [string]$f.SecureBoot
            SecureBootTemplate   = [string]$f.SecureBootTemplate
            SecureBootTemplateId = [string]$f.SecureBootTemplateId
        }
    }
    $s = Get-VMSecurity -VM $VM
    $security = [pscustomobject]@{
        TpmEnabled                        = [bool]$s.TpmEnabled
        KsdEnabled                        = [bool]$s.KsdEnabled
        Shielded                          = [bool]$s.Shielded
        EncryptStateAndVmMigrationTraffic = [bool]$s.EncryptStateAndVmMigrationTraffic
        VirtualizationBasedSecurityOptOut = [bool]$s.VirtualizationBasedSecurityOptOut
        BindToHostTpm                     = [bool]$s.BindToHostTpm
    }
    $owner = $null
    $group = $null
    $key = ([string]$VM.VMId).ToLowerInvariant()
    if ($Owners.ContainsKey($key)) { $owner = $Owners[$key].Owner; $group = $Owners[$key].Group }
    $isolation = $null
    if ($null -ne $VM.GuestStateIsolationType) { $isolation = [string]$VM.GuestStateIsolationType }
    return [pscustomobject]@{
        Name                    = [string]$VM.Name
        VMId                    = [string]$VM.VMId
        Generation              = [int]$VM.Generation
        State                   = [string]$VM.State
        ProcessorCount          = [int]$VM.ProcessorCount
        MemoryStartup           = [int64]$VM.MemoryStartup
        IsClustered             = [bool]$VM.IsClustered
        ClusterGroup            = $group
        OwnerNode               = $owner
        GuestStateIsolationType = $isolation
        Firmware                = $firmware
        Security                = $security
        KeyProtector            = (Get-TlrKeyProtectorRaw $VM)
        TpmInitialized          = ([bool]$s.TpmEnabled -and (Test-TlrVmgs $VM))
        Notes                   = [string]$VM.Notes
        FileAccess              = (Test-TlrFileAccess $VM)
    }
}

function Get-TlrResult {
    param([string]$Message, [bool]$Changed)
    return [pscustomobject]@{ Changed = $Changed; Message = $Message }
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
