$ErrorActionPreference = 'Stop'
# The hyperv driver's host helpers: psnode's shared host loop (internal/drivers/psnode/
# scripts/host.ps1) follows this text in the one script the bootstrap stub runs, so every
# op script, which runs in a child scope of that loop, sees these functions and Stop-Tlr.

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
