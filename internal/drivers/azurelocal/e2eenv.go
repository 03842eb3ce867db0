package azurelocal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// The environment variables of the end-to-end suite (README, azurelocal
// section; e2e_test.go). Required unless marked optional.
const (
	envSubscription   = "TLR_AZL_E2E_SUBSCRIPTION"    // subscription ID
	envResourceGroup  = "TLR_AZL_E2E_RESOURCE_GROUP"  // where the run's VMs go
	envCustomLocation = "TLR_AZL_E2E_CUSTOM_LOCATION" // the cluster's custom location (resource ID)
	envLocation       = "TLR_AZL_E2E_LOCATION"        // Azure region
	envCloud          = "TLR_AZL_E2E_CLOUD"           // optional: AzurePublic | AzureGovernment | AzureChina
	envLogicalNetwork = "TLR_AZL_E2E_LOGICAL_NETWORK" // an existing logical network
	envImage          = "TLR_AZL_E2E_IMAGE"           // publisher:offer:sku[:version], an existing gallery image
	envNodes          = "TLR_AZL_E2E_NODES"           // the cluster's nodes, comma-separated
	envNodeAccess     = "TLR_AZL_E2E_NODE_ACCESS"     // optional: options.nodeAccess as JSON (default local PowerShell)
	envResourceBridge = "TLR_AZL_E2E_RESOURCE_BRIDGE" // the Arc resource bridge VM's name
	envGuestAgent     = "TLR_AZL_E2E_GUEST_AGENT"     // optional: 1 when the image carries tlreconcile's guest agent
	envCluster        = "TLR_AZL_E2E_CLUSTER"         // optional: the cluster's name in tlreconcile (default e2e)
	envAdminUsername  = "TLR_AZL_E2E_ADMIN_USERNAME"  // optional: the guests' admin user (default tlradmin)
	envAdminPassword  = "TLR_AZL_E2E_ADMIN_PASSWORD"  // optional: read by the driver by reference, never by the suite
	envAllowShared    = "TLR_AZL_E2E_ALLOW_SHARED"    // optional: 1 runs beside VMs the run did not create
	envSweep          = "TLR_AZL_E2E_SWEEP"           // optional: the prefix of an earlier run to clean up
)

// E2EConfig is the suite's target as the environment names it.
type E2EConfig struct {
	// Cluster is the Cluster document the variables describe: driver
	// azurelocal, its nodes, and options checked as validate checks them.
	Cluster drivers.ClusterRef
	Target  E2ETarget
	// OSProfile is the guests' admin user, and the password by reference
	// (the variable's name, never its value) when it is set.
	OSProfile drivers.OSProfile
	// Sweep is the prefix of an earlier run to clean up ("" none).
	Sweep string
}

// E2EConfigFromEnv reads the suite's configuration through getenv (os.Getenv
// in the suite), naming every variable that is missing or wrong at once.
func E2EConfigFromEnv(getenv func(string) string) (E2EConfig, error) {
	var errs []error
	need := func(name string) string {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is not set", name))
		}
		return v
	}
	cfg := E2EConfig{Cluster: drivers.ClusterRef{Name: "e2e", Driver: Name}}
	if n := strings.TrimSpace(getenv(envCluster)); n != "" {
		cfg.Cluster.Name = n
	}
	opts := map[string]any{
		"azure": map[string]any{"subscriptionId": need(envSubscription), "resourceGroup": need(envResourceGroup),
			"customLocation": need(envCustomLocation), "location": need(envLocation), "cloud": strings.TrimSpace(getenv(envCloud))},
		"logicalNetwork": need(envLogicalNetwork), "resourceBridgeVM": need(envResourceBridge),
	}
	cfg.Target.LogicalNetwork = opts["logicalNetwork"].(string)
	var err error
	if opts["guestAgent"], err = envBool(getenv, envGuestAgent); err != nil {
		errs = append(errs, err)
	}
	if cfg.Target.AllowShared, err = envBool(getenv, envAllowShared); err != nil {
		errs = append(errs, err)
	}
	if cfg.Cluster.Nodes, err = parseNodes(need(envNodes)); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", envNodes, err))
	}
	if cfg.Target.Image, err = parseImage(need(envImage)); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", envImage, err))
	}
	if a := strings.TrimSpace(getenv(envNodeAccess)); a != "" {
		var access map[string]any
		if err := strictJSON(a, &access); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w (want options.nodeAccess as a JSON object, e.g. {\"transport\":\"ssh\",\"user\":\"svc-tlr\"})", envNodeAccess, err))
		}
		opts["nodeAccess"] = access
	}
	if len(errs) > 0 {
		return E2EConfig{}, fmt.Errorf("e2e: %w", errors.Join(errs...))
	}
	cfg.Cluster.Options = opts
	if _, err := ParseOptions(cfg.Cluster); err != nil {
		return E2EConfig{}, fmt.Errorf("e2e: the variables make no valid Cluster: %w", err)
	}
	cfg.OSProfile = drivers.OSProfile{AdminUsername: "tlradmin"}
	if u := strings.TrimSpace(getenv(envAdminUsername)); u != "" {
		cfg.OSProfile.AdminUsername = u
	}
	if getenv(envAdminPassword) != "" {
		cfg.OSProfile.AdminPassword = &drivers.SecretRef{FromEnv: envAdminPassword}
	}
	if s := strings.TrimSpace(getenv(envSweep)); s != "" {
		if err := checkE2EPrefix(s); err != nil {
			return E2EConfig{}, fmt.Errorf("e2e: %s: %w", envSweep, err)
		}
		cfg.Sweep = s
	}
	return cfg, nil
}

func envBool(getenv func(string) string, name string) (bool, error) {
	switch strings.TrimSpace(getenv(name)) {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	}
	return false, fmt.Errorf("%s is %q: want 1 or 0", name, getenv(name))
}

// parseNodes reads "node1,node2": names without blanks or repeats.
func parseNodes(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
			return nil, fmt.Errorf("an empty node name in %q", s)
		case slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, n) }):
			return nil, fmt.Errorf("node %q is named twice", n)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseImage reads publisher:offer:sku[:version].
func parseImage(s string) (drivers.Image, error) {
	if s == "" {
		return drivers.Image{}, nil
	}
	parts := strings.Split(s, ":")
	if len(parts) < 3 || len(parts) > 4 || slices.Contains(parts, "") {
		return drivers.Image{}, fmt.Errorf("%q: want publisher:offer:sku or publisher:offer:sku:version, e.g. microsoftwindowsdesktop:windows-11:win11-23h2-ent", s)
	}
	im := drivers.Image{Publisher: parts[0], Offer: parts[1], Sku: parts[2]}
	if len(parts) == 4 {
		im.Version = parts[3]
	}
	return im, nil
}

// strictJSON decodes one JSON object into out and nothing after it.
func strictJSON(s string, out *map[string]any) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	if err := dec.Decode(out); err != nil {
		return err
	}
	if *out == nil {
		return errors.New("null is not an object")
	}
	if dec.More() {
		return errors.New("text after the JSON object")
	}
	return nil
}
