$ErrorActionPreference = 'Stop'
# The azlocal helpers for an Azure Local node: psnode's shared host loop follows this text in
# the one script the bootstrap stub runs, so every request script (a child scope of that
# loop) sees these functions and Stop-Tlr. Every value they get from a request arrives as a
# JSON field; none of them builds code or a filter string from it.

function Get-TlrResult {
    param([string]$Message, [bool]$Changed)
    return [pscustomobject]@{ Changed = $Changed; Message = $Message }
}

function Test-TlrInfrastructure {
    # The Arc resource bridge VM (and any other VM the driver names as infrastructure, from
    # ARM's view of the appliance): observed, never changed.
    param($VM, $Names)
    foreach ($n in @($Names)) {
        if ($null -ne $n -and [string]$VM.Name -ceq [string]$n) { return $true }
    }
    return $false
}

function Get-TlrOwnedVM {
    # The VM with this VM ID on this node, checked against the name the driver saw and
    # refused when it is infrastructure. Get-VM only lists this node's VMs, so a VM another
    # node owns is not found here.
    param($P)
    $id = [guid]::Empty
    if (-not [guid]::TryParse([string]$P.vmId, [ref]$id)) {
        Stop-Tlr 'invalid_argument' ('vm/{0}: vmId {1} is not a VM ID (a GUID)' -f $P.vm, $P.vmId)
    }
    $vm = Get-VM -Id $id -ErrorAction SilentlyContinue
    if ($null -eq $vm) { Stop-Tlr 'not_found' ('vm/{0}: no VM with ID {1} on this node; run the op on its owner node' -f $P.vm, $id) }
    if ([string]$vm.Name -cne [string]$P.vm) {
        Stop-Tlr 'precondition' ('vm/{0}: the VM with ID {1} is now named {2}; observe again' -f $P.vm, $id, $vm.Name)
    }
    if (Test-TlrInfrastructure $vm $P.infrastructure) {
        Stop-Tlr 'infrastructure' ('vm/{0}: the VM is Azure Local infrastructure (the Arc resource bridge); nothing may change it' -f $P.vm)
    }
    return $vm
}

function Assert-TlrOff {
    param($VM, [string]$What)
    $state = [string]$VM.State
    if ($state -ne 'Off') {
        Stop-Tlr 'invalid_state' ('vm/{0}: {1} needs the VM Off but it is {2} (error 32775); stop it through Azure first' -f $VM.Name, $What, $state)
    }
}

function Get-TlrSettingsMap {
    # VM ID (lower case) -> the realized Msvm_VirtualSystemSettingData, which carries
    # GuestStateDataRoot and GuestStateFile: one CIM query for the whole node.
    $map = @{}
    foreach ($s in @(Get-CimInstance -Namespace 'root\virtualization\v2' -ClassName 'Msvm_VirtualSystemSettingData' -ErrorAction SilentlyContinue)) {
        if ([string]$s.VirtualSystemType -ne 'Microsoft:Hyper-V:System:Realized') { continue }
        $map[([string]$s.VirtualSystemIdentifier).ToLowerInvariant()] = $s
    }
    return $map
}

function Get-TlrStateFilePath {
    param($VM, $Settings)
    $key = ([string]$VM.VMId).ToLowerInvariant()
    if (-not $Settings.ContainsKey($key)) { return $null }
    $s = $Settings[$key]
    $root = [string]$s.GuestStateDataRoot
    $file = [string]$s.GuestStateFile
    if (-not $root -or -not $file) { return $null }
    return [pscustomobject]@{ Root = $root; File = $file; Path = (Join-Path $root $file) }
}

function ConvertTo-TlrPrincipal {
    param($Identity)
    $sid = [string]$Identity.Value
    $name = ''
    try { $name = [string]$Identity.Translate([System.Security.Principal.NTAccount]).Value } catch { $name = '' }
    return [pscustomobject]@{ Name = $name; Sid = $sid }
}

function Get-TlrFileSecurity {
    # The owner and the explicit and inherited access rules of one file, or $null when the
    # file is not there.
    param([string]$Path)
    if (-not $Path -or -not (Test-Path -LiteralPath $Path)) { return $null }
    $acl = Get-Acl -LiteralPath $Path
    $sidType = [System.Security.Principal.SecurityIdentifier]
    $rules = New-Object System.Collections.Generic.List[object]
    foreach ($r in @($acl.GetAccessRules($true, $true, $sidType))) {
        $who = ConvertTo-TlrPrincipal $r.IdentityReference
        $rules.Add([pscustomobject]@{ Name = $who.Name; Sid = $who.Sid; Type = [string]$r.AccessControlType; Rights = [string]$r.FileSystemRights; Inherited = [bool]$r.IsInherited })
    }
    return [pscustomobject]@{
        Path   = $Path
        Owner  = (ConvertTo-TlrPrincipal $acl.GetOwner($sidType))
        Access = $rules.ToArray()
    }
}

function Get-TlrServiceStatus {
    param([string]$Name)
    $svc = Get-Service -Name $Name -ErrorAction SilentlyContinue
    if ($null -eq $svc) { return 'NotInstalled' }
    return [string]$svc.Status
}

function Test-TlrEspCryptoSet {
    # True when every quick-mode proposal of the rule's crypto set encrypts with ESP.
    param($Rule)
    $set = $Rule | Get-NetIPsecQuickModeCryptoSet -PolicyStore ActiveStore -ErrorAction SilentlyContinue
    if ($null -eq $set) { return $false }
    $proposals = @($set.Proposal)
    if ($proposals.Count -eq 0) { return $false }
    foreach ($prop in $proposals) {
        if ([string]$prop.Encapsulation -notmatch 'ESP' -or [string]$prop.Encryption -eq 'None' -or -not [string]$prop.Encryption) { return $false }
    }
    return $true
}

function Get-TlrMigrationIPsec {
    # How IPsec protects live-migration traffic (TCP 6600) in the effective policy:
    # 'require' (inbound and outbound Require, ESP encryption), 'request' (negotiated, not
    # required), or 'none'.
    $best = 'none'
    foreach ($rule in @(Get-NetIPsecRule -PolicyStore ActiveStore -Enabled True -ErrorAction SilentlyContinue)) {
        $covers = $false
        foreach ($pf in @($rule | Get-NetFirewallPortFilter -PolicyStore ActiveStore -ErrorAction SilentlyContinue)) {
            $proto = [string]$pf.Protocol
            if ($proto -ne 'TCP' -and $proto -ne 'Any' -and $proto -ne '6') { continue }
            $ports = @($pf.LocalPort) + @($pf.RemotePort) | ForEach-Object { [string]$_ }
            if ($ports -contains '6600' -or $ports -contains 'Any') { $covers = $true }
        }
        if (-not $covers -or -not (Test-TlrEspCryptoSet $rule)) { continue }
        if ([string]$rule.InboundSecurity -eq 'Require' -and [string]$rule.OutboundSecurity -eq 'Require') { return 'require' }
        $best = 'request'
    }
    return $best
}

function Get-TlrSmbClusterEncryption {
    # Azure Local's SMB encryption for in-cluster traffic (AzureStackOSConfigAgent);
    # $null when the cmdlet is not there (an upgraded node without the security baseline).
    if (-not (Get-Command -Name Get-AzsSecurity -ErrorAction SilentlyContinue)) { return $null }
    try { return [bool](Get-AzsSecurity -FeatureName SMBClusterEncryption -Local) } catch { return $null }
}

function Get-TlrBackups {
    # The key backups under a root: folders named yyyyMMddHHmmss with AES and RSA folders of
    # <key name>_<size>.json files (Backup-TVMKeys' layout). Folders still being written
    # start with '.' and are not backups.
    param([string]$Root)
    $out = New-Object System.Collections.Generic.List[object]
    if (-not $Root -or -not (Test-Path -LiteralPath $Root)) { return ,$out.ToArray() }
    foreach ($d in @(Get-ChildItem -LiteralPath $Root -Directory -ErrorAction SilentlyContinue | Sort-Object Name)) {
        if ($d.Name -notmatch '^[0-9]{14}$') { continue }
        $keys = New-Object System.Collections.Generic.List[string]
        foreach ($kind in @('AES', 'RSA')) {
            $dir = Join-Path $d.FullName $kind
            if (-not (Test-Path -LiteralPath $dir)) { continue }
            foreach ($f in @(Get-ChildItem -LiteralPath $dir -File -Filter '*.json' -ErrorAction SilentlyContinue)) {
                $i = $f.BaseName.LastIndexOf('_')
                if ($i -gt 0) { $keys.Add($f.BaseName.Substring(0, $i)) }
            }
        }
        $out.Add([pscustomobject]@{ Folder = $d.Name; Keys = @($keys | Sort-Object) })
    }
    return ,$out.ToArray()
}
