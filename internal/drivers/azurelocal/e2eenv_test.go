package azurelocal

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

func fullE2EEnv() map[string]string {
	return map[string]string{
		envSubscription:   "00000000-0000-0000-0000-000000000000",
		envResourceGroup:  "hci-e2e",
		envCustomLocation: "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/hci/providers/Microsoft.ExtendedLocation/customLocations/hci-west",
		envLocation:       "westeurope",
		envLogicalNetwork: "vm-lnet",
		envImage:          "microsoftwindowsdesktop:windows-11:win11-23h2-ent:latest",
		envNodes:          "node1, node2",
		envResourceBridge: "hci-west-arcbridge",
	}
}

func getenvOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestE2EConfigFromEnv(t *testing.T) {
	const password = "Sup3r-s3cret-value!"
	with := func(kv ...string) map[string]string {
		m := fullE2EEnv()
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	cases := []struct {
		name    string
		env     map[string]string
		wantErr []string // each must appear in the error; nil: no error
	}{
		{"complete", fullE2EEnv(), nil},
		{"with every option", with(envNodeAccess, `{"transport":"ssh","user":"svc-tlr","identityFile":"~/.ssh/id_ed25519"}`,
			envAllowShared, "1", envGuestAgent, "true", envAdminUsername, "ops", envAdminPassword, password, envCloud, "AzureGovernment",
			envCluster, "west", envSweep, "tlr-e2e-0a1b2c3d-"), nil},
		{"nothing set", map[string]string{}, []string{envSubscription, envResourceGroup, envCustomLocation, envLocation,
			envLogicalNetwork, envImage, envNodes, envResourceBridge}},
		{"image without a sku", with(envImage, "microsoftwindowsdesktop:windows-11"), []string{envImage, "publisher:offer:sku"}},
		{"image with an empty part", with(envImage, "a::c"), []string{envImage}},
		{"a node twice", with(envNodes, "node1,NODE1"), []string{envNodes, "twice"}},
		{"an empty node", with(envNodes, "node1,,node2"), []string{envNodes, "empty node name"}},
		{"node access not JSON", with(envNodeAccess, "ssh"), []string{envNodeAccess, "JSON object"}},
		{"node access null", with(envNodeAccess, "null"), []string{envNodeAccess}},
		{"node access with text after it", with(envNodeAccess, `{} {}`), []string{envNodeAccess}},
		{"node access with an unknown key", with(envNodeAccess, `{"transprt":"ssh"}`), []string{"transprt"}},
		{"node access for a node not in the list", with(envNodeAccess, `{"nodes":{"node9":{"host":"10.0.0.9"}}}`), []string{"node9"}},
		{"allow-shared not a flag", with(envAllowShared, "yes"), []string{envAllowShared, "want 1 or 0"}},
		{"sweep of a made-up prefix", with(envSweep, "tlr-"), []string{envSweep}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := E2EConfigFromEnv(getenvOf(c.env))
			if c.wantErr != nil {
				if err == nil {
					t.Fatalf("accepted: %+v", cfg)
				}
				for _, w := range c.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not name %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ParseOptions(cfg.Cluster); err != nil {
				t.Errorf("the Cluster does not parse: %v", err)
			}
			dump := fmt.Sprintf("%+v", cfg)
			if p := cfg.OSProfile.AdminPassword; p != nil {
				dump += fmt.Sprintf("%+v", *p)
			}
			if strings.Contains(dump, password) {
				t.Error("the admin password's value is in the configuration")
			}
		})
	}

	cfg, err := E2EConfigFromEnv(getenvOf(with(envAdminPassword, password, envAllowShared, "1")))
	if err != nil {
		t.Fatal(err)
	}
	want := drivers.Image{Publisher: "microsoftwindowsdesktop", Offer: "windows-11", Sku: "win11-23h2-ent", Version: "latest"}
	if cfg.Target.Image != want || cfg.Target.LogicalNetwork != "vm-lnet" || !cfg.Target.AllowShared ||
		strings.Join(cfg.Cluster.Nodes, ",") != "node1,node2" || cfg.Cluster.Name != "e2e" || cfg.Cluster.Driver != Name {
		t.Errorf("config %+v", cfg)
	}
	if p := cfg.OSProfile.AdminPassword; p == nil || p.FromEnv != envAdminPassword || cfg.OSProfile.AdminUsername != "tlradmin" {
		t.Errorf("OS profile %+v, want the password by reference to %s", cfg.OSProfile, envAdminPassword)
	}
	o, err := ParseOptions(cfg.Cluster)
	if err != nil || o.ResourceBridgeVM != "hci-west-arcbridge" || o.Azure.ResourceGroup != "hci-e2e" || o.LogicalNetwork != "vm-lnet" {
		t.Errorf("options %+v, %v", o, err)
	}
}

// FuzzE2EConfigFromEnv: whatever the variables hold, the configuration is
// either refused with an error or a Cluster that parses, with nodes and a
// complete image, and no panic.
func FuzzE2EConfigFromEnv(f *testing.F) {
	f.Add("node1,node2", "a:b:c", `{"transport":"ssh"}`, "1")
	f.Add(",", ":::", "null", "x")
	f.Add("n", "a:b:c:d:e", `{"nodes":{"n":{"host":"h"}}}`, "")
	f.Fuzz(func(t *testing.T, nodes, image, access, shared string) {
		env := fullE2EEnv()
		maps.Copy(env, map[string]string{envNodes: nodes, envImage: image, envNodeAccess: access, envAllowShared: shared})
		cfg, err := E2EConfigFromEnv(getenvOf(env))
		if err != nil {
			return
		}
		im := cfg.Target.Image
		if len(cfg.Cluster.Nodes) == 0 || im.Publisher == "" || im.Offer == "" || im.Sku == "" {
			t.Fatalf("accepted an incomplete target: nodes %q, image %+v", cfg.Cluster.Nodes, im)
		}
		if _, err := ParseOptions(cfg.Cluster); err != nil {
			t.Fatalf("accepted options that do not parse: %v", err)
		}
	})
}
