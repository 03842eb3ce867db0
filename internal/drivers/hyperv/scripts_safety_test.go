package hyperv_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
)

// scriptText returns an embedded script, or with "host:NAME" the body of host.ps1's function
// NAME, without its comment lines and with every run of white space made one space
// (alignment does not matter).
func scriptText(t *testing.T, name string) string {
	t.Helper()
	var text string
	if fn, ok := strings.CutPrefix(name, "host:"); ok {
		host := string(hyperv.Scripts().Host())
		start := strings.Index(host, "\nfunction "+fn+" {")
		if start < 0 {
			t.Fatalf("host.ps1 has no function %s", fn)
		}
		body := host[start+1:]
		if end := strings.Index(body, "\nfunction "); end >= 0 {
			body = body[:end]
		}
		text = body
	} else {
		b, ok := hyperv.Scripts().Text(name)
		if !ok {
			t.Fatalf("no script %s", name)
		}
		text = string(b)
	}
	return oneSpace(withoutComments(text))
}

// withoutComments drops whole-line comments, so that a statement only described in a comment
// does not count.
func withoutComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

var spaces = regexp.MustCompile(`\s+`)

func oneSpace(s string) string { return spaces.ReplaceAllString(s, " ") }

// TestScriptsKeepTheSafetyOfIssue13 pins, per item of issue 13's list, what the real scripts
// must do on a Windows host. No PowerShell with the Hyper-V module runs on this machine, and
// the fake host (hypervfake) is a Go model of these scripts that cannot notice when a script
// loses a check, so each row reads the script itself: the statements that make it safe, in
// the order they must run (inOrder), and what it must never contain (never). Each row names
// the Microsoft documentation the behaviour follows; reverting the script change the row
// describes fails it.
func TestScriptsKeepTheSafetyOfIssue13(t *testing.T) {
	tests := []struct {
		item, script, doc string
		inOrder           []string
		never             []string
	}{
		{item: "2 template fixed once the vTPM is initialised, also after a reset", script: "set-secure-boot",
			doc:     "Set-VMFirmware -SecureBootTemplate; Hyper-V refuses 'Cannot modify the secure boot template ID property after the virtual TPM is initialized' (hashicorp/packer#11399); the .vmgs is the guest-state file (HcsCreateEmptyGuestStateFile)",
			inOrder: []string{"Assert-TlrOff $vm 'set-secure-boot'", "(Get-VMSecurity -VM $vm).TpmEnabled -and (Test-TlrVmgs $vm)", "Stop-Tlr 'precondition'", "Set-VMFirmware -VM $vm @fwArgs"}},
		{item: "2 TpmInitialized is a written .vmgs, which a reset does not empty", script: "host:ConvertTo-TlrVMReport",
			doc:     "Get-VMSecurity TpmEnabled (learn.microsoft.com/powershell/module/hyper-v/get-vmsecurity); Test-TlrVmgs reads GuestStateFile from Msvm_VirtualSystemSettingData",
			inOrder: []string{"TpmInitialized = ([bool]$s.TpmEnabled -and (Test-TlrVmgs $VM))"}},
		{item: "3 no silent standard VM", script: "create-vm",
			doc: "New-VM -GuestStateIsolationType (TrustedLaunch, VBS, SNP, TDX, Disabled), Windows Server 2025 docset only (learn.microsoft.com/powershell/module/hyper-v/new-vm?view=windowsserver2025-ps); Get-VM GuestStateIsolationType verifies trusted launch",
			inOrder: []string{"(Get-Command -Name New-VM).Parameters.ContainsKey('GuestStateIsolationType')", "Stop-Tlr 'not_supported'",
				"if ($trusted) { $newArgs['GuestStateIsolationType'] = 'TrustedLaunch' }", "$vm = New-VM @newArgs",
				"if ($trusted -and [string]$vm.GuestStateIsolationType -ne 'TrustedLaunch') { Stop-Tlr 'not_supported'",
				"$vm = Get-TlrVM ([string]$p.name)", "if ($trusted -and [string]$vm.GuestStateIsolationType -ne 'TrustedLaunch') { Stop-Tlr 'not_applied'"}},
		{item: "4 no power-off without consent", script: "stop-vm",
			doc: "Stop-VM -Force: 'the virtual machine has five minutes to save data and shut down'; -TurnOff: 'equivalent to disconnecting the power' (learn.microsoft.com/powershell/module/hyper-v/stop-vm)",
			inOrder: []string{"$force = [bool]$p.allowForceStop", "$job = Stop-VM -VM $vm -Force -AsJob", "Wait-Job -Job $job -Timeout 330",
				"if (-not $force) { Stop-Tlr 'invalid_state'", "--allow-force-stop", "Stop-VM -VM $vm -TurnOff -Force"},
			never: []string{"-TurnOff -Force -AsJob", "Stop-VM -TurnOff -VM"}},
		{item: "5 one VM's failing report is that VM's error", script: "observe",
			doc:     "$ErrorActionPreference = 'Stop' makes every error terminating (about_Preference_Variables); try/catch handles it per VM (about_Try_Catch_Finally)",
			inOrder: []string{"foreach ($vm in $vms) { try { $reports.Add((ConvertTo-TlrVMReport $vm $owners))", "} catch { $reports.Add([pscustomobject]@{ Name = [string]$vm.Name; VMId = [string]$vm.VMId; Error = [string]$_.Exception.Message })"}},
		{item: "6 the VHDX inside the VM's folder", script: "create-vm",
			doc: "New-VM -Path: 'the directory to store the files for the new virtual machine' (new-vm); Add-VMHardDiskDrive -Path (learn.microsoft.com/powershell/module/hyper-v/add-vmharddiskdrive)",
			inOrder: []string{"$vmDir = Join-Path $root ([string]$p.folder)", "Path = $vmDir", "$vm = New-VM @newArgs",
				"$diskDir = Join-Path ([string]$vm.Path) 'Virtual Hard Disks'", "$disk = Join-Path $diskDir", "Copy-Item -LiteralPath ([string]$p.sourceVhdx) -Destination $disk", "Add-VMHardDiskDrive -VM $vm -Path $disk"}},
		{item: "6 delete removes exactly the disks under the VM's folder", script: "delete-vm",
			doc:     "Remove-VM removes the VM's configuration, not its virtual hard disks (learn.microsoft.com/powershell/module/hyper-v/remove-vm); Get-VMHardDiskDrive lists them",
			inOrder: []string{"$disks = @(Get-VMHardDiskDrive -VM $vm", "Remove-VM -VM $vm -Force", "if ((Test-TlrUnder $d $vmPath) -and (Test-Path -LiteralPath $d)) { Remove-Item -LiteralPath $d -Force }"}},
		{item: "6 path compare with the separator", script: "host:Test-TlrUnder",
			doc:     "[IO.Path]::GetFullPath and String.StartsWith(String, StringComparison) (.NET API reference); Windows paths compare case-insensitively",
			inOrder: []string{"$full = [IO.Path]::GetFullPath($Path)", "$prefix = [IO.Path]::GetFullPath($Dir).TrimEnd('\\') + '\\'", "return $full.StartsWith($prefix, [StringComparison]::OrdinalIgnoreCase)"}},
		{item: "8 only Administrators, SYSTEM and the VM's own account", script: "host:Test-TlrAllowedSid",
			doc:     "well-known SIDs S-1-5-32-544 (Administrators), S-1-5-18 (LocalSystem) (learn.microsoft.com/windows/win32/secauthz/well-known-sids); S-1-5-83-0 is the group of every VM's worker process, not one VM",
			inOrder: []string{"return ($Sid -eq 'S-1-5-32-544' -or $Sid -eq 'S-1-5-18' -or $Sid -eq $VMSid)"}, never: []string{"S-1-5-83-*", "-like", "-match"}},
		{item: "8 the VM's own virtual account from its VMId", script: "host:Get-TlrVMSid",
			inOrder: []string{"([guid][string]$VM.VMId).ToByteArray()", "[BitConverter]::ToUInt32($b, $_)", "'S-1-5-83-1-' + ($parts -join '-')"}},
		{item: "8 state paths read, not guessed", script: "host:Get-TlrStatePaths",
			doc:     "Msvm_VirtualSystemSettingData ConfigurationDataRoot/ConfigurationFile, GuestStateDataRoot/GuestStateFile (learn.microsoft.com/windows/win32/hyperv_v2/msvm-virtualsystemsettingdata)",
			inOrder: []string{"Get-CimInstance -Namespace 'root\\virtualization\\v2' -ClassName Msvm_VirtualSystemSettingData", "@($s.ConfigurationDataRoot, $s.ConfigurationFile), @($s.GuestStateDataRoot, $s.GuestStateFile)"},
			never:   []string{"Get-ChildItem", "*.vmgs"}},
		{item: "8 the owner is checked", script: "host:Test-TlrFileAccess",
			inOrder: []string{"$owner = $acl.GetOwner([System.Security.Principal.SecurityIdentifier]).Value", "if (-not (Test-TlrAllowedSid $owner $vmSid)) { return 'violation' }", "if (-not (Test-TlrAllowedSid $rule.IdentityReference.Value $vmSid)) { return 'violation' }"}},
		{item: "8 only the DACL is written, the owner never", script: "restrict-file-access",
			doc:     "Set-Acl writes the whole security descriptor, owner included (learn.microsoft.com/powershell/module/microsoft.powershell.security/set-acl); FileSystemInfo.SetAccessControl with AccessControlSections.Access writes the DACL only",
			inOrder: []string{"$paths = Get-TlrStatePaths $vm", "if (-not (Test-TlrAllowedSid $owner $vmSid)) { Stop-Tlr 'precondition'", "$acl = $item.GetAccessControl($access)", "$item.SetAccessControl($acl)"},
			never:   []string{"Set-Acl", "SetOwner(", "S-1-5-83-0"}},
		{item: "9 an explicit ESP crypto set and a configurable auth set", script: "enable-migration-ipsec",
			doc: "New-NetIPsecQuickModeCryptoProposal -Encapsulation ESP -Encryption; New-NetIPsecQuickModeCryptoSet; New-NetIPsecAuthProposal -Machine -Cert -Authority / -Kerberos; New-NetIPsecRule -QuickModeCryptoSet -Phase1AuthSet (learn.microsoft.com/powershell/module/netsecurity)",
			inOrder: []string{"New-NetIPsecQuickModeCryptoProposal -Encapsulation ESP -Encryption AESGCM256", "New-NetIPsecQuickModeCryptoProposal -Encapsulation ESP -Encryption AES256",
				"New-NetIPsecQuickModeCryptoSet -Name $cryptoName", "if ([string]$p.auth -eq 'certificate') { $proposal = New-NetIPsecAuthProposal -Machine -Cert -Authority ([string]$p.certAuthority)",
				"$proposal = New-NetIPsecAuthProposal -Machine -Kerberos", "New-NetIPsecPhase1AuthSet -Name $authName", "QuickModeCryptoSet = $cryptoName Phase1AuthSet = $authName",
				"if ($dir -eq 'in') { $ruleArgs['LocalPort'] = '6600' } else { $ruleArgs['RemotePort'] = '6600' }", "if (-not (Test-TlrMigrationIPsec)) { Stop-Tlr 'not_applied'"}},
		{item: "9 Require is not enough: the crypto set must encrypt", script: "host:Test-TlrEspEncryption",
			doc:     "a quick-mode proposal carries the encryption algorithm only 'if requested' (New-NetIPsecQuickModeCryptoProposal)",
			inOrder: []string{"if (-not $Rule.QuickModeCryptoSet) { return $false }", "if ([string]$pr.Encapsulation -notmatch 'ESP' -or [string]$pr.Encryption -eq 'None' -or -not $pr.Encryption) { return $false }"}},
		{item: "9 the transport is observed", script: "host:Get-TlrMigrationTransport",
			doc:     "Get-VMHost VirtualMachineMigrationPerformanceOption (TCPIP, Compression, SMB) (learn.microsoft.com/powershell/module/hyper-v/set-vmhost); Get-SmbServerConfiguration EncryptData (learn.microsoft.com/powershell/module/smbshare/set-smbserverconfiguration)",
			inOrder: []string{"(Get-VMHost).VirtualMachineMigrationPerformanceOption", "if ($transport -eq 'SMB') {", "(Get-SmbServerConfiguration -ErrorAction Stop).EncryptData"}},
		{item: "10 IgvmAgent gates only isolated VMs", script: "start-vm",
			doc:     "Get-VM GuestStateIsolationType (new-vm -GuestStateIsolationType); a standard vTPM VM's key protector is the host guardian's (Set-VMKeyProtector -NewLocalKeyProtector, learn.microsoft.com/powershell/module/hyper-v/set-vmkeyprotector)",
			inOrder: []string{"if ((Test-TlrIsolated $vm) -and (Get-TlrAgentStatus) -ne 'Running') { Stop-Tlr 'precondition'", "Start-VM -VM $vm"}},
		{item: "10 isolated means TrustedLaunch", script: "host:Test-TlrIsolated",
			inOrder: []string{"return ([string]$VM.GuestStateIsolationType -eq 'TrustedLaunch')"}},
		{item: "10 the agent's startup type is never changed", script: "start-igvm-agent",
			doc:     "Start-Service starts a stopped service and leaves its start type; only Set-Service -StartupType changes that (learn.microsoft.com/powershell/module/microsoft.powershell.management/set-service)",
			inOrder: []string{"Start-Service -Name 'IGVmAgent'"}, never: []string{"Set-Service", "-StartupType", "sc.exe", "config"}},
		{item: "10 static memory without a stop", script: "set-memory",
			doc:     "Set-VMMemory -StartupBytes on a running VM: runtime memory resize, Windows Server 2016 and later (learn.microsoft.com/windows-server/virtualization/hyper-v/what-s-new-in-hyper-v-on-windows)",
			inOrder: []string{"Set-VMMemory -VM $vm -StartupBytes $want", "if ([string]$vm.State -ne 'Off') { Stop-Tlr 'invalid_state'"},
			never:   []string{"Assert-TlrOff", "Stop-VM"}},
		{item: "issue 12: PowerShell Direct with the agent's arguments as data", script: "attest",
			doc: "Invoke-Command -VMId -Credential runs a script block in a VM running on this host (learn.microsoft.com/virtualization/hyper-v-on-windows/user-guide/powershell-direct: the VM must run locally, Windows 10/Server 2016 guests or later); -ArgumentList passes values to the block's param() (about_Remote_Variables); & runs a command named by a variable without parsing it as script (about_Operators)",
			inOrder: []string{"$secure = New-Object System.Security.SecureString",
				"[Convert]::FromBase64String([Console]::In.ReadLine())", "$secure.AppendChar($ch)", "$secure.MakeReadOnly()",
				"$vm = Get-TlrVM ([string]$p.vm)", "if ([string]$vm.State -ne 'Running') {",
				"New-Object System.Management.Automation.PSCredential ([string]$p.guestUser, $secure)", "param([string]$Agent, [string[]]$AgentArgs)",
				"Test-Path -LiteralPath $Agent -PathType Leaf", "& $Agent 'guest' @AgentArgs 2>&1",
				"Invoke-Command -VMId $vm.VMId -Credential $cred -ScriptBlock $inGuest -ArgumentList $agent, $agentArgs -ErrorAction Stop"},
			never: []string{"[ScriptBlock]::Create", "Invoke-Expression", "-VMName", "Write-Host", "Write-Output $p", "Start-Transcript", "Out-File", "$using:",
				// the password as a cmdlet argument, which module logging (event 4103) records
				"ConvertTo-SecureString", "guestPassword"}},
	}
	for _, tc := range tests {
		t.Run(tc.item+" ("+tc.script+")", func(t *testing.T) {
			text := scriptText(t, tc.script)
			at := 0
			for _, frag := range tc.inOrder {
				f := oneSpace(frag)
				i := strings.Index(text[at:], f)
				if i < 0 {
					where := "anywhere"
					if strings.Contains(text, f) {
						where = "after the statement before it"
					}
					t.Fatalf("%s does not contain, %s:\n  %s\nissue 13 item %s (%s)", tc.script, where, frag, tc.item, tc.doc)
				}
				at += i + len(f)
			}
			for _, bad := range tc.never {
				if strings.Contains(text, oneSpace(bad)) {
					t.Errorf("%s contains %q: issue 13 item %s (%s)", tc.script, bad, tc.item, tc.doc)
				}
			}
		})
	}
}
