package azurelocal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// Observe reads the VM instances of the resource group through Azure
// Resource Graph when it serves: one POST per 1,000 instances instead of one
// GET per VM, so an observation's ARM cost grows with pages, not VMs. Where
// Resource Graph refuses (a 403 or 404 from an ARM without it or without
// read access on it, or a 400 for a query it does not take), the driver
// falls back to a GET per VM instance and stops asking Resource Graph on
// that connection; a transient failure falls back for one observation only.
//
// Resource Graph is eventually consistent: its index trails ARM by seconds
// (minutes at worst), so a VM created a moment ago may be missing from it.
// The driver therefore cross-checks with the machines list (read from ARM
// itself): a machine of kind HCI that Resource Graph has no instance for is
// read with a GET, so a fresh VM is never observed as absent. What a stale
// row can still show is an instance's old properties (power, hardware) for
// those seconds; verification after a step reads the VM itself (GETs).

// resourceGraphAPIVersion is the Resource Graph api-version the driver uses.
const resourceGraphAPIVersion = "2022-10-01"

// graphPageSize is $top: Resource Graph's most rows per page.
const graphPageSize = 1000

const graphPath = "/providers/Microsoft.ResourceGraph/resources"

// resourceGroupName is what ARM allows in a resource group name; only such
// a name goes into the query's string literal (it cannot end it).
var resourceGroupName = regexp.MustCompile(`^[-\w.()]{1,90}$`)

type graphRequest struct {
	Subscriptions []string     `json:"subscriptions"`
	Query         string       `json:"query"`
	Options       graphOptions `json:"options"`
}

type graphOptions struct {
	Top          int    `json:"$top,omitempty"`
	SkipToken    string `json:"$skipToken,omitempty"`
	ResultFormat string `json:"resultFormat"`
}

type graphResponse struct {
	TotalRecords int64        `json:"totalRecords"`
	Count        int64        `json:"count"`
	SkipToken    string       `json:"$skipToken,omitempty"`
	Data         []vmInstance `json:"data"`
}

// errGraphRefused marks an answer that says Resource Graph will not serve
// this client: stop asking it.
var errGraphRefused = errors.New("azurelocal: Azure Resource Graph refused the query")

// vmiQuery is the KQL of the resource group's VM instances.
func vmiQuery(group string) string {
	return "Resources | where type =~ 'microsoft.azurestackhci/virtualmachineinstances' | where resourceGroup =~ '" +
		group + "' | order by id asc"
}

// graphVMs reads every VM instance of the resource group through Resource
// Graph, keyed by its Arc machine's lower-case name.
func (c *armClient) graphVMs(ctx context.Context) (map[string]vmInstance, int, error) {
	if !resourceGroupName.MatchString(c.cfg.ResourceGroup) {
		return nil, 0, fmt.Errorf("%w: resource group %q is not a name ARM allows", errGraphRefused, c.cfg.ResourceGroup)
	}
	out := map[string]vmInstance{}
	body := graphRequest{Subscriptions: []string{c.cfg.Subscription}, Query: vmiQuery(c.cfg.ResourceGroup),
		Options: graphOptions{Top: graphPageSize, ResultFormat: "objectArray"}}
	pages := 0
	for {
		var page graphResponse
		if err := c.graphPage(ctx, body, &page); err != nil {
			return nil, pages, err
		}
		pages++
		for _, v := range page.Data {
			if name := machineOfInstance(v.ID); name != "" {
				out[name] = v
			}
		}
		if page.SkipToken == "" {
			return out, pages, nil
		}
		body.Options.SkipToken = page.SkipToken
	}
}

func (c *armClient) graphPage(ctx context.Context, body graphRequest, out *graphResponse) error {
	req, err := runtime.NewRequest(ctx, http.MethodPost, c.endpoint+graphPath)
	if err != nil {
		return err
	}
	q := req.Raw().URL.Query()
	q.Set("api-version", resourceGraphAPIVersion)
	req.Raw().URL.RawQuery = q.Encode()
	req.Raw().Header.Set("Accept", "application/json")
	if err := runtime.MarshalAsJSON(req, body); err != nil {
		return err
	}
	resp, err := c.pl.Do(req)
	if err != nil {
		return transportError(http.MethodPost, graphPath, err)
	}
	if resp.StatusCode != http.StatusOK {
		err := errorFrom(resp)
		switch resp.StatusCode {
		case http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed:
			return fmt.Errorf("%w: %w", errGraphRefused, err)
		}
		return err
	}
	return decode(resp, out)
}

// machineOfInstance is the lower-case Arc machine name in a VM instance ID
// (.../machines/{name}/providers/Microsoft.AzureStackHCI/virtualMachineInstances/default).
func machineOfInstance(id string) string {
	segs := strings.Split(strings.Trim(id, "/"), "/")
	for i := 0; i+1 < len(segs); i++ {
		if strings.EqualFold(segs[i], "machines") {
			return strings.ToLower(segs[i+1])
		}
	}
	return ""
}

// withInstances joins machines with their VM instances: from Resource Graph
// where it serves, a GET for each machine it has no row for (and for all of
// them where it does not serve).
func (c *conn) withInstances(ctx context.Context, machines []machine) ([]armVM, error) {
	rows, ok := c.graphRows(ctx)
	if !ok {
		return c.getInstances(ctx, machines)
	}
	out := make([]armVM, 0, len(machines))
	var missing []machine
	for _, m := range machines {
		if v, found := rows[strings.ToLower(m.Name)]; found {
			if v.Properties.VMID != "" { // no vmId: its create failed; the VM does not exist
				out = append(out, armVM{m: m, v: v})
			}
		} else {
			missing = append(missing, m)
		}
	}
	rest, err := c.getInstances(ctx, missing)
	if err != nil {
		return nil, err
	}
	return append(out, rest...), nil
}

// graphRows asks Resource Graph unless it refused this connection before;
// ok is false when the caller must GET every instance.
func (c *conn) graphRows(ctx context.Context) (map[string]vmInstance, bool) {
	c.perf.mu.Lock()
	refused := c.perf.graphRefused
	c.perf.mu.Unlock()
	if refused != nil {
		return nil, false
	}
	rows, _, err := c.arm.graphVMs(ctx)
	if err == nil {
		return rows, true
	}
	if errors.Is(err, errGraphRefused) {
		c.perf.mu.Lock()
		c.perf.graphRefused = err
		c.perf.mu.Unlock()
	}
	return nil, false
}
