package azurelocal

import (
	"context"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

func azureOpts(extra map[string]any) map[string]any {
	o := map[string]any{"azure": map[string]any{"subscriptionId": "00000000-0000-0000-0000-000000000000", "resourceGroup": "rg",
		"customLocation": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ExtendedLocation/customLocations/cl", "location": "eastus"}}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts map[string]any
		want string // "" = valid
	}{
		{"valid", azureOpts(map[string]any{"logicalNetwork": "lnet", "nodeAccess": map[string]any{"transport": "ssh", "user": "a"}}), ""},
		{"no azure", map[string]any{"logicalNetwork": "lnet"}, "options.azure needs"},
		{"unknown key", azureOpts(map[string]any{"colour": "red"}), `unknown field "colour"`},
		{"node not in the cluster", azureOpts(map[string]any{"nodeAccess": map[string]any{"nodes": map[string]any{"node9": map[string]any{"host": "h"}}}}), `"node9" is not one of the cluster's nodes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseOptions(drivers.ClusterRef{Name: "c1", Nodes: []string{"node1"}, Options: tc.opts})
			switch {
			case tc.want == "" && (err != nil || o.LogicalNetwork != "lnet" || o.Azure.ResourceGroup != "rg"):
				t.Fatalf("%+v %v", o, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestResolveReal: a real cluster's endpoint comes from its options; a bad
// cloud or node transport is refused before anything is contacted.
func TestResolveReal(t *testing.T) {
	ref := drivers.ClusterRef{Name: "c1", Nodes: []string{"node1"}, Options: azureOpts(map[string]any{
		"logicalNetwork": "lnet", "resourceBridgeVM": "c1-arcbridge", "guestAgent": true})}
	ep, err := resolveReal(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if ep.Subscription != "00000000-0000-0000-0000-000000000000" || ep.LogicalNetwork != "lnet" || !ep.GuestIdentity ||
		len(ep.Infrastructure) != 1 || ep.Nodes == nil || ep.Credential == nil {
		t.Fatalf("endpoint: %+v", ep)
	}
	for name, extra := range map[string]map[string]any{
		"cloud":     {"azure": map[string]any{"subscriptionId": "x", "resourceGroup": "rg", "customLocation": "/c", "location": "l", "cloud": "Mars"}},
		"transport": {"nodeAccess": map[string]any{"transport": "telnet"}},
		"timeout":   {"nodeAccess": map[string]any{"transport": "ssh", "connectTimeout": "soon"}},
	} {
		ref.Options = azureOpts(extra)
		if _, err := resolveReal(context.Background(), ref); err == nil {
			t.Errorf("%s: a bad option was accepted", name)
		}
	}
}
