package azlocal_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode/azlocal"
)

const vmID = "7fb16fe7-00a0-476f-92b3-ccb98fd9525a"

func TestVMAccountSID(t *testing.T) {
	sid, err := azlocal.VMAccountSID(vmID)
	if err != nil {
		t.Fatal(err)
	}
	// The first field 7fb16fe7 reads back as 0x7fb16fe7; 00a0 and 476f as 0x476f00a0.
	if want := "S-1-5-83-1-2142334951-1198456992-"; !strings.HasPrefix(sid, want) || strings.Count(sid, "-") != 8 {
		t.Errorf("VMAccountSID = %s, want S-1-5-83-1- and four numbers, the first 2142334951", sid)
	}
	upper, _ := azlocal.VMAccountSID("{" + strings.ToUpper(vmID) + "}")
	if upper != sid {
		t.Errorf("case or braces change the SID: %s vs %s", upper, sid)
	}
	other, _ := azlocal.VMAccountSID("7fb16fe7-00a0-476f-92b3-ccb98fd9525b")
	if other == sid {
		t.Error("two VM IDs give one SID")
	}
	for _, bad := range []string{"", "not-a-guid", "7fb16fe700a0476f92b3ccb98fd9525a", "7fb16fe7-00a0-476f-92b3-ccb98fd9525", "zfb16fe7-00a0-476f-92b3-ccb98fd9525a"} {
		if _, err := azlocal.VMAccountSID(bad); err == nil {
			t.Errorf("VMAccountSID(%q) accepted a non-GUID", bad)
		}
	}
}

func TestStateFileAccess(t *testing.T) {
	self, _ := azlocal.VMAccountSID(vmID)
	otherVM, _ := azlocal.VMAccountSID("11111111-1111-1111-1111-111111111111")
	admins := azlocal.Principal{Name: azlocal.NameAdministrators, Sid: azlocal.SIDAdministrators}
	allow := func(name, sid string) azlocal.AccessRule {
		return azlocal.AccessRule{Name: name, Sid: sid, Type: "Allow", Rights: "FullControl"}
	}
	base := []azlocal.AccessRule{allow(azlocal.NameAdministrators, azlocal.SIDAdministrators), allow(azlocal.NameSystem, azlocal.SIDSystem), allow(azlocal.VMAccountName(vmID), self)}
	tests := []struct {
		name    string
		file    *azlocal.FileSecurity
		verdict string
		bad     []string
	}{
		{"no file", nil, azlocal.AccessUnknown, nil},
		{"admins, system and the VM", &azlocal.FileSecurity{Owner: admins, Access: base}, azlocal.AccessRestricted, nil},
		{"owner SYSTEM", &azlocal.FileSecurity{Owner: azlocal.Principal{Name: azlocal.NameSystem, Sid: azlocal.SIDSystem}, Access: base}, azlocal.AccessRestricted, nil},
		{"the VM by name only (SID not translated)", &azlocal.FileSecurity{Owner: admins, Access: []azlocal.AccessRule{allow(`nt virtual machine\`+vmID, "")}}, azlocal.AccessRestricted, nil},
		{"the VM by SID only", &azlocal.FileSecurity{Owner: admins, Access: []azlocal.AccessRule{allow("", self)}}, azlocal.AccessRestricted, nil},
		{"all VMs group", &azlocal.FileSecurity{Owner: admins, Access: append(slices.Clone(base), allow(azlocal.NameAllVMs, azlocal.SIDAllVMs))},
			azlocal.AccessViolation, []string{azlocal.NameAllVMs + " (" + azlocal.SIDAllVMs + ")"}},
		{"another VM", &azlocal.FileSecurity{Owner: admins, Access: append(slices.Clone(base), allow("", otherVM))}, azlocal.AccessViolation, []string{otherVM}},
		{"a user", &azlocal.FileSecurity{Owner: admins, Access: append(slices.Clone(base), allow(`CONTOSO\eve`, "S-1-5-21-1-2-3-1104"))},
			azlocal.AccessViolation, []string{`CONTOSO\eve (S-1-5-21-1-2-3-1104)`}},
		{"a deny rule is no grant", &azlocal.FileSecurity{Owner: admins, Access: append(slices.Clone(base), azlocal.AccessRule{Name: "Everyone", Sid: "S-1-1-0", Type: "Deny"})}, azlocal.AccessRestricted, nil},
		{"owned by a user", &azlocal.FileSecurity{Owner: azlocal.Principal{Name: `CONTOSO\eve`}, Access: base}, azlocal.AccessViolation, []string{`owner CONTOSO\eve`}},
		{"owned by the VM itself", &azlocal.FileSecurity{Owner: azlocal.Principal{Sid: self}, Access: base}, azlocal.AccessViolation, []string{"owner " + self}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vm := &azlocal.VMReport{VMID: vmID, StateFile: tt.file}
			got, bad := azlocal.StateFileAccess(vm)
			if got != tt.verdict || !slices.Equal(bad, tt.bad) {
				t.Errorf("StateFileAccess = %s %q, want %s %q", got, bad, tt.verdict, tt.bad)
			}
		})
	}
}

func TestMigrationEncrypted(t *testing.T) {
	on, off := true, false
	tests := []struct {
		name string
		m    azlocal.MigrationReport
		want bool
	}{
		{"TCPIP without IPsec", azlocal.MigrationReport{Transport: azlocal.TransportTCPIP, IPsec: azlocal.IPsecNone}, false},
		{"TCPIP with IPsec requested only", azlocal.MigrationReport{Transport: azlocal.TransportTCPIP, IPsec: azlocal.IPsecRequest}, false},
		{"TCPIP with IPsec required", azlocal.MigrationReport{Transport: azlocal.TransportTCPIP, IPsec: azlocal.IPsecRequire}, true},
		{"Compression with IPsec required", azlocal.MigrationReport{Transport: azlocal.TransportCompression, IPsec: azlocal.IPsecRequire}, true},
		{"SMB with IPsec (SMB Direct bypasses it)", azlocal.MigrationReport{Transport: azlocal.TransportSMB, IPsec: azlocal.IPsecRequire, SMBEncryption: &off}, false},
		{"SMB with cluster encryption", azlocal.MigrationReport{Transport: azlocal.TransportSMB, SMBEncryption: &on}, true},
		{"SMB, encryption not observable", azlocal.MigrationReport{Transport: azlocal.TransportSMB}, false},
		{"unknown transport", azlocal.MigrationReport{Transport: "Carrier pigeon", IPsec: azlocal.IPsecRequire}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Encrypted(); got != tt.want {
				t.Errorf("Encrypted() = %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzStateFileAccess feeds observe-node answers as a node could send them: decoding and
// judging never panics, and a violation always names someone.
func FuzzStateFileAccess(f *testing.F) {
	f.Add([]byte(`{"VMId":"` + vmID + `","StateFile":{"Owner":{"Sid":"S-1-5-32-544"},"Access":[{"Sid":"S-1-5-83-0","Type":"Allow"}]}}`))
	f.Add([]byte(`{"VMId":"{zz}","StateFile":{"Owner":{},"Access":null}}`))
	f.Add([]byte(`{"VMId":"","StateFile":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var vm azlocal.VMReport
		if json.Unmarshal(b, &vm) != nil {
			return
		}
		_, _ = azlocal.VMAccountSID(vm.VMID)
		verdict, bad := azlocal.StateFileAccess(&vm)
		if verdict == azlocal.AccessViolation && len(bad) == 0 {
			t.Errorf("violation without offenders for %s", b)
		}
	})
}
