package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// nastyStrings are what appendJSONString must escape as json.Marshal does.
var nastyStrings = []string{
	"", "vm-01", `quote"back\slash`, "<script>&amp;</script>", "tab\there\nnewline\r\b\f", "\x00\x01\x1f\x7f",
	"bad utf-8 \xff\xfe end", "\xc3", "line\u2028para\u2029", "ünïcödé 🎉", "C:\\ClusterStorage\\Volume1",
}

func randomVM(r *rand.Rand) VM {
	s := func() string { return nastyStrings[r.IntN(len(nastyStrings))] }
	v := VM{
		Name: s(), Cluster: s(), SecurityType: s(), Pos: Pos{File: s(), Line: r.IntN(9)},
		Image:      Image{Publisher: s(), Offer: s(), Sku: s(), Version: s()},
		Processors: r.IntN(600) - 100, MemoryMB: r.Int64() - r.Int64(),
		SecureBoot: SecureBoot{Enabled: r.IntN(2) == 0, Template: s()}, VTPM: VTPM{Enabled: r.IntN(2) == 0},
		VBS: r.IntN(2) == 0, EncryptStateAndMigrationTraffic: r.IntN(2) == 0, BootIntegrityVerification: r.IntN(2) == 0,
		Placement: Placement{Node: s()}, Power: s(), Protect: r.IntN(2) == 0, StoragePath: s(),
	}
	switch r.IntN(3) {
	case 1:
		v.Labels = map[string]string{}
	case 2:
		v.Labels = map[string]string{s(): s(), s(): s(), "pool": s()}
	}
	if r.IntN(2) == 0 {
		v.Network = &Network{LogicalNetwork: s(), IPAddress: s()}
	}
	if r.IntN(2) == 0 {
		v.OSProfile = &OSProfile{ComputerName: s(), AdminUsername: s()}
		if r.IntN(2) == 0 {
			v.OSProfile.AdminPassword = &SecretRef{FromEnv: s(), FromFile: s()}
		}
	}
	if r.IntN(2) == 0 {
		yes := r.IntN(2) == 0
		v.Attestation = &Attestation{Enabled: r.IntN(2) == 0, Interval: s(), Require: AttestationRequires{SecureBoot: &yes, VBS: s()}}
		if r.IntN(2) == 0 {
			v.Attestation.Require.TestSigning, v.Attestation.Require.Debugging = &yes, &yes
		}
		if r.IntN(3) == 0 {
			v.Attestation.AcceptBoot = []string{s(), s()}
		}
	}
	return v
}

// TestHashIsJSONMarshal: the VM encoding hashed is json.Marshal's, byte for
// byte, so every spec hash recorded on a VM before keeps matching.
func TestHashIsJSONMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var vms []VM
	for i := range 5000 {
		v := randomVM(r)
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendVMJSON(nil, &v); string(got) != string(want) {
			t.Fatalf("vm %d:\n got %s\nwant %s", i, got, want)
		}
		if got, want := v.Hash(), sha(want); got != want {
			t.Fatalf("vm %d: Hash %s, sha256 of json.Marshal %s", i, got, want)
		}
		vms = append(vms, v)
	}
	for _, d := range []*Desired{
		{Clusters: []Cluster{{Name: "c", Nodes: []string{"n1"}, Options: map[string]any{"a": 1}}}, VMs: vms[:100], Catalog: []CatalogImage{{Image: Image{Publisher: "p"}}}},
		{VMs: []VM{}},
		{},
		nil,
	} {
		var old any
		if d != nil {
			old = struct {
				Clusters []Cluster      `json:"clusters"`
				VMs      []VM           `json:"vms"`
				Catalog  []CatalogImage `json:"catalog"`
			}{d.Clusters, d.VMs, d.Catalog}
		}
		want, _ := json.Marshal(old)
		if got := d.Hash(); got != sha(want) {
			t.Errorf("Desired.Hash of %+v is %s, sha256 of json.Marshal %s", d, got, sha(want))
		}
	}
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// FuzzVMJSON: for any strings, appendVMJSON writes what json.Marshal does.
func FuzzVMJSON(f *testing.F) {
	for _, s := range nastyStrings {
		f.Add(s, s, "k")
	}
	f.Fuzz(func(t *testing.T, a, b, k string) {
		v := VM{Name: a, Cluster: b, Labels: map[string]string{k: a, b: k}, Placement: Placement{Node: b},
			Network: &Network{LogicalNetwork: a}, OSProfile: &OSProfile{AdminPassword: &SecretRef{FromFile: b}}}
		want, _ := json.Marshal(v)
		if got := appendVMJSON(nil, &v); string(got) != string(want) {
			t.Fatalf("got %s\nwant %s", got, want)
		}
	})
}

// TestVMJSONFields lists every field appendVMJSON writes, with its type and
// tag: a field added to VM or to a type inside it fails here, so that
// appendVMJSON (hash.go) learns it before a spec hash silently ignores it.
func TestVMJSONFields(t *testing.T) {
	var fields []string
	var walk func(reflect.Type, string)
	walk = func(ty reflect.Type, prefix string) {
		for ty.Kind() == reflect.Pointer {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct {
			return
		}
		for i := range ty.NumField() {
			f := ty.Field(i)
			fields = append(fields, fmt.Sprintf("%s%s %s `%s`", prefix, f.Name, f.Type, f.Tag.Get("json")))
			if f.Tag.Get("json") != "-" {
				walk(f.Type, prefix+f.Name+".")
			}
		}
	}
	walk(reflect.TypeFor[VM](), "")
	want := `Name string ` + "`name`" + `
Cluster string ` + "`cluster`" + `
Labels map[string]string ` + "`labels,omitempty`" + `
Pos spec.Pos ` + "`-`" + `
SecurityType string ` + "`securityType`" + `
Image spec.Image ` + "`image`" + `
Image.Publisher string ` + "`publisher`" + `
Image.Offer string ` + "`offer`" + `
Image.Sku string ` + "`sku`" + `
Image.Version string ` + "`version`" + `
Processors int ` + "`processors`" + `
MemoryMB int64 ` + "`memoryMB`" + `
SecureBoot spec.SecureBoot ` + "`secureBoot`" + `
SecureBoot.Enabled bool ` + "`enabled`" + `
SecureBoot.Template string ` + "`template`" + `
VTPM spec.VTPM ` + "`vtpm`" + `
VTPM.Enabled bool ` + "`enabled`" + `
VBS bool ` + "`vbs`" + `
EncryptStateAndMigrationTraffic bool ` + "`encryptStateAndMigrationTraffic`" + `
BootIntegrityVerification bool ` + "`bootIntegrityVerification`" + `
Placement spec.Placement ` + "`placement`" + `
Placement.Node string ` + "`node,omitempty`" + `
Power string ` + "`power`" + `
Protect bool ` + "`protect`" + `
Network *spec.Network ` + "`network,omitempty`" + `
Network.LogicalNetwork string ` + "`logicalNetwork`" + `
Network.IPAddress string ` + "`ipAddress,omitempty`" + `
StoragePath string ` + "`storagePath,omitempty`" + `
OSProfile *spec.OSProfile ` + "`osProfile,omitempty`" + `
OSProfile.ComputerName string ` + "`computerName,omitempty`" + `
OSProfile.AdminUsername string ` + "`adminUsername,omitempty`" + `
OSProfile.AdminPassword *spec.SecretRef ` + "`adminPassword,omitempty`" + `
OSProfile.AdminPassword.FromEnv string ` + "`fromEnv,omitempty`" + `
OSProfile.AdminPassword.FromFile string ` + "`fromFile,omitempty`" + `
Attestation *spec.Attestation ` + "`attestation,omitempty`" + `
Attestation.Enabled bool ` + "`enabled`" + `
Attestation.Interval string ` + "`interval`" + `
Attestation.Require spec.AttestationRequires ` + "`require`" + `
Attestation.Require.SecureBoot *bool ` + "`secureBoot,omitempty`" + `
Attestation.Require.CodeIntegrity *bool ` + "`codeIntegrity,omitempty`" + `
Attestation.Require.VBS string ` + "`vbs,omitempty`" + `
Attestation.Require.TestSigning *bool ` + "`testSigning,omitempty`" + `
Attestation.Require.Debugging *bool ` + "`debugging,omitempty`" + `
Attestation.AcceptBoot []string ` + "`acceptBoot,omitempty`"
	if got := strings.Join(fields, "\n"); got != want {
		t.Errorf("the fields of VM changed; teach appendVMJSON (hash.go) the change, then update this list.\ngot:\n%s\nwant:\n%s", got, want)
	}
}
