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

function Get-TlrVMSid {
    # The SID of the VM's own virtual account NT VIRTUAL MACHINE\<VMId>: S-1-5-83-1- and the
    # VMId's 16 bytes as four little-endian 32-bit numbers. S-1-5-83-0 is the group of every
    # VM's worker process and is not this VM's account.
    param($VM)
    $b = ([guid][string]$VM.VMId).ToByteArray()
    $parts = @(0, 4, 8, 12 | ForEach-Object { [BitConverter]::ToUInt32($b, $_) })
    return ('S-1-5-83-1-' + ($parts -join '-'))
}

function Test-TlrAllowedSid {
    # Only BUILTIN\Administrators, SYSTEM and the VM's own virtual account.
    param([string]$Sid, [string]$VMSid)
    return ($Sid -eq 'S-1-5-32-544' -or $Sid -eq 'S-1-5-18' -or $Sid -eq $VMSid)
}

function Get-TlrStatePaths {
    # The VM's configuration, guest-state (.vmgs) and runtime-state (.vmrs) files as Hyper-V
    # records them (Msvm_VirtualSystemSettingData ConfigurationDataRoot/ConfigurationFile,
    # GuestStateDataRoot/GuestStateFile), plus the folders holding them; not guessed from
    # names. Empty when the settings cannot be read.
    param($VM)
    $paths = New-Object System.Collections.Generic.List[string]
    # The filter holds the host's own VMId, cast to a GUID first: no user value reaches WQL.
    $id = ([guid][string]$VM.VMId).ToString().ToUpperInvariant()
    $filter = "VirtualSystemType = 'Microsoft:Hyper-V:System:Realized' AND VirtualSystemIdentifier = '" + $id + "'"
    $vssd = @(Get-CimInstance -Namespace 'root\virtualization\v2' -ClassName Msvm_VirtualSystemSettingData -Filter $filter -ErrorAction Stop)
    if ($vssd.Count -ne 1) { return ,$paths }
    $s = $vssd[0]
    foreach ($pair in @(@($s.ConfigurationDataRoot, $s.ConfigurationFile), @($s.GuestStateDataRoot, $s.GuestStateFile))) {
        if (-not $pair[0] -or -not $pair[1]) { continue }
        $file = Join-Path ([string]$pair[0]) ([string]$pair[1])
        foreach ($path in @((Split-Path -Parent $file), $file)) {
            if ((Test-Path -LiteralPath $path) -and -not $paths.Contains($path)) { $paths.Add($path) }
        }
    }
    if ($s.GuestStateDataRoot -and $s.GuestStateFile) {
        $vmrs = [IO.Path]::ChangeExtension((Join-Path ([string]$s.GuestStateDataRoot) ([string]$s.GuestStateFile)), '.vmrs')
        if ((Test-Path -LiteralPath $vmrs) -and -not $paths.Contains($vmrs)) { $paths.Add($vmrs) }
    }
    return ,$paths
}

function Test-TlrFileAccess {
    # hostAdminsOnly when, on every state path, the owner and every Allow entry are
    # Administrators, SYSTEM or the VM's own account; violation otherwise; unknown when the
    # paths or ACLs cannot be read.
    param($VM)
    try {
        $paths = Get-TlrStatePaths $VM
        if ($paths.Count -eq 0) { return 'unknown' }
        $vmSid = Get-TlrVMSid $VM
        foreach ($path in $paths) {
            $acl = Get-Acl -LiteralPath $path
            $owner = $acl.GetOwner([System.Security.Principal.SecurityIdentifier]).Value
            if (-not (Test-TlrAllowedSid $owner $vmSid)) { return 'violation' }
            foreach ($rule in $acl.GetAccessRules($true, $true, [System.Security.Principal.SecurityIdentifier])) {
                if ([string]$rule.AccessControlType -ne 'Allow') { continue }
                if (-not (Test-TlrAllowedSid $rule.IdentityReference.Value $vmSid)) { return 'violation' }
            }
        }
        return 'hostAdminsOnly'
    } catch {
        return 'unknown'
    }
}

function Test-TlrIsolated {
    # A trusted-launch (isolated) VM: only these need IGVmAgent.
    param($VM)
    return ([string]$VM.GuestStateIsolationType -eq 'TrustedLaunch')
}

function Test-TlrUnder {
    # Whether Path lies inside Dir, compared with a trailing separator, so that
    # C:\VMs\ab\disk.vhdx is not taken to be inside C:\VMs\a.
    param([string]$Path, [string]$Dir)
    if (-not $Path -or -not $Dir) { return $false }
    $full = [IO.Path]::GetFullPath($Path)
    $prefix = [IO.Path]::GetFullPath($Dir).TrimEnd('\') + '\'
    return $full.StartsWith($prefix, [StringComparison]::OrdinalIgnoreCase)
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
    # True when an enabled IPsec rule requires protection for live-migration traffic (TCP 6600)
    # with an ESP quick-mode crypto set that encrypts (Require alone may mean integrity only).
    # ActiveStore: the effective policy, including rules that Group Policy delivers; without
    # -PolicyStore the NetSecurity cmdlets read only the local PersistentStore.
    try {
        foreach ($rule in @(Get-NetIPsecRule -PolicyStore ActiveStore -Enabled True -ErrorAction SilentlyContinue)) {
            if ([string]$rule.InboundSecurity -ne 'Require' -or [string]$rule.OutboundSecurity -ne 'Require') { continue }
            if (-not (Test-TlrEspEncryption $rule)) { continue }
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

function Test-TlrEspEncryption {
    # The rule's quick-mode crypto set proposes only ESP with an encryption algorithm.
    param($Rule)
    if (-not $Rule.QuickModeCryptoSet) { return $false }
    $set = Get-NetIPsecQuickModeCryptoSet -PolicyStore ActiveStore -Name ([string]$Rule.QuickModeCryptoSet) -ErrorAction SilentlyContinue
    if ($null -eq $set) { return $false }
    $proposals = @($set.Proposal)
    if ($proposals.Count -eq 0) { return $false }
    foreach ($pr in $proposals) {
        if ([string]$pr.Encapsulation -notmatch 'ESP' -or [string]$pr.Encryption -eq 'None' -or -not $pr.Encryption) { return $false }
    }
    return $true
}

function Get-TlrMigrationTransport {
    # Get-VMHost VirtualMachineMigrationPerformanceOption (TCPIP, Compression or SMB), and for
    # SMB whether the SMB server encrypts (Get-SmbServerConfiguration EncryptData): IPsec
    # cannot protect SMB Direct, which bypasses the TCP/IP stack.
    $transport = ''
    try { $transport = [string](Get-VMHost).VirtualMachineMigrationPerformanceOption } catch { }
    $smb = $false
    if ($transport -eq 'SMB') {
        try { $smb = [bool](Get-SmbServerConfiguration -ErrorAction Stop).EncryptData } catch { $smb = $false }
    }
    return [pscustomobject]@{ Transport = $transport; SmbEncryption = $smb }
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
