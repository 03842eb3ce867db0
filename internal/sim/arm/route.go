package arm

import (
	"net/http"
	"strings"
)

// Resource provider namespaces the sim serves.
const (
	nsHCI     = "Microsoft.AzureStackHCI"
	nsCompute = "Microsoft.HybridCompute"
)

// call is one ARM request, routed.
type call struct {
	w      http.ResponseWriter
	r      *http.Request
	claims claims
	eff    effect

	sub, rg   string
	ns        string // provider namespace, for the api-version
	kind      *kind  // nil for operation status resources
	machine   string // machine name (machines, VM instances, run commands)
	name      string // resource name; "" for a collection
	action    string // start, stop, restart
	opStatus  string // operationStatuses or operationResults
	opID      string
	operation string // the spec's operationId, e.g. Machines_Get

	subscriptionWide bool // a list across the subscription's resource groups
}

// Handler serves ARM and the identity endpoints.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<20)
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	w.Header().Set("x-ms-request-id", newID())
	switch {
	case len(segs) == 3 && eq(segs[0], "common") && eq(segs[1], "discovery") && eq(segs[2], "instance"):
		s.handleInstanceDiscovery(w, r)
	case len(segs) == 4 && eq(segs[1], "oauth2") && eq(segs[2], "v2.0") && eq(segs[3], "token"):
		s.handleToken(w, r, segs[0])
	case len(segs) == 4 && eq(segs[1], "v2.0") && eq(segs[2], ".well-known") && eq(segs[3], "openid-configuration"):
		s.handleOpenIDConfig(w, r, segs[0])
	case len(segs) == 3 && eq(segs[0], "providers") && eq(segs[1], "Microsoft.ResourceGraph") && eq(segs[2], "resources"):
		s.serveGraph(w, r) // graph.go
	case len(segs) >= 2 && eq(segs[0], "subscriptions"):
		s.serveARM(w, r, segs)
	default:
		writeError(w, errf(http.StatusNotFound, "NotFound", "no such endpoint: %s", r.URL.Path))
	}
}

func eq(a, b string) bool { return strings.EqualFold(a, b) }

func (s *Server) serveARM(w http.ResponseWriter, r *http.Request, segs []string) {
	c, err := route(segs, r.Method)
	if err != nil {
		writeError(w, err)
		return
	}
	c.w, c.r = w, r
	if e := checkAPIVersion(r, c.ns); e != nil {
		writeError(w, e)
		return
	}
	var ok bool
	if c.claims, ok = s.authenticate(w, r); !ok {
		return
	}
	eff, ferr := s.consume(c.operation)
	if ferr != nil {
		writeError(w, asARM(ferr))
		return
	}
	if eff.apply(r.Context(), w) {
		return
	}
	c.eff = eff
	s.dispatch(c)
}

// checkAPIVersion refuses a request without the api-version of its resource
// provider, as ARM does.
func checkAPIVersion(r *http.Request, ns string) *armError {
	want := StackHCIAPIVersion
	if ns == nsCompute {
		want = HybridComputeAPIVersion
	}
	got, present := r.URL.Query()["api-version"]
	if !present || len(got) == 0 || got[0] == "" {
		return badRequest("MissingApiVersionParameter",
			"The api-version query parameter (?api-version=) is required for all requests. Use api-version %s for %s.", want, ns)
	}
	if got[0] != want {
		return badRequest("InvalidApiVersionParameter",
			"The api-version '%s' is invalid. The supported versions for resource provider '%s' are '%s'.", got[0], ns, want)
	}
	return nil
}

// route parses an ARM path (already split) into a call, or the 404/405 ARM
// answers for a path it does not serve.
func route(segs []string, method string) (*call, *armError) {
	c := &call{sub: segs[1]}
	rest := segs[2:]
	switch {
	case len(rest) == 6 && eq(rest[0], "providers") && eq(rest[2], "locations") &&
		(eq(rest[4], "operationStatuses") || eq(rest[4], "operationResults")):
		c.ns, c.opStatus, c.opID = canonicalNS(rest[1]), strings.ToLower(rest[4]), rest[5]
		c.operation = "OperationStatus_Get"
		if !eq(c.ns, nsHCI) && !eq(c.ns, nsCompute) {
			return nil, noProvider(rest[1])
		}
		return c, methodOnly(method, http.MethodGet)
	case len(rest) == 3 && eq(rest[0], "providers"):
		return c, c.routeSubscriptionList(rest[1], rest[2], method)
	case len(rest) >= 4 && eq(rest[0], "resourceGroups") && eq(rest[2], "providers"):
		c.rg = rest[1]
		return c, c.routeProvider(rest[3], rest[4:], method)
	}
	return nil, errf(http.StatusNotFound, "InvalidResourceType", "the path %s is not a resource the simulated Azure Local serves", "/"+strings.Join(segs, "/"))
}

func canonicalNS(ns string) string {
	switch {
	case eq(ns, nsHCI):
		return nsHCI
	case eq(ns, nsCompute):
		return nsCompute
	}
	return ns
}

func noProvider(ns string) *armError {
	return badRequest("NoRegisteredProviderFound", "No registered resource provider found for namespace '%s'. The simulated Azure Local serves %s and %s.", ns, nsHCI, nsCompute)
}

func methodOnly(method string, allowed ...string) *armError {
	for _, a := range allowed {
		if method == a {
			return nil
		}
	}
	e := errf(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested resource does not support http method '%s': use %s", method, strings.Join(allowed, ", "))
	e.Allow = allowed
	return e
}

func (c *call) routeProvider(ns string, rest []string, method string) *armError {
	c.ns = canonicalNS(ns)
	switch c.ns {
	case nsCompute:
		return c.routeCompute(rest, method)
	case nsHCI:
		if len(rest) < 1 || len(rest) > 2 {
			break
		}
		k := hciKind(rest[0])
		if k == nil || k == kindVMI {
			break
		}
		c.kind = k
		if len(rest) == 2 {
			c.name = rest[1]
		}
		return c.setOperation(method)
	default:
		return noProvider(ns)
	}
	return errf(http.StatusNotFound, "InvalidResourceType", "the resource type %s/%s is not served by the simulated Azure Local", ns, strings.Join(rest, "/"))
}

func (c *call) routeCompute(rest []string, method string) *armError {
	bad := errf(http.StatusNotFound, "InvalidResourceType", "the resource type %s/%s is not served by the simulated Azure Local", nsCompute, strings.Join(rest, "/"))
	if len(rest) == 0 || !eq(rest[0], "machines") {
		return bad
	}
	c.kind = kindMachine
	switch {
	case len(rest) <= 2:
		if len(rest) == 2 {
			c.name = rest[1]
		}
	case len(rest) <= 4 && eq(rest[2], "runCommands"):
		c.kind, c.machine = kindRunCommand, rest[1]
		if len(rest) == 4 {
			c.name = rest[3]
		}
	case len(rest) >= 5 && len(rest) <= 7 && eq(rest[2], "providers") && eq(rest[3], nsHCI) && eq(rest[4], "virtualMachineInstances"):
		c.kind, c.machine, c.ns = kindVMI, rest[1], nsHCI
		if len(rest) >= 6 {
			if !eq(rest[5], "default") {
				return errf(http.StatusNotFound, "InvalidResourceName", "a virtual machine instance is always named default, not %q", rest[5])
			}
			c.name = "default"
		}
		if len(rest) == 7 {
			c.action = strings.ToLower(rest[6])
		}
	default:
		return bad
	}
	return c.setOperation(method)
}

// routeSubscriptionList is GET /subscriptions/{sub}/providers/{ns}/{type}:
// the subscription-wide lists the spec has (Machines_ListBySubscription and
// the Azure Local types' *_ListAll), across resource groups. Virtual machine
// instances and run commands have none: they are listed per Arc machine.
func (c *call) routeSubscriptionList(ns, typ, method string) *armError {
	c.ns, c.subscriptionWide = canonicalNS(ns), true
	switch c.ns {
	case nsCompute:
		if eq(typ, kindMachine.segment) {
			c.kind = kindMachine
		}
	case nsHCI:
		if k := hciKind(typ); k != nil && k != kindVMI {
			c.kind = k
		}
	default:
		return noProvider(ns)
	}
	if c.kind == nil {
		return errf(http.StatusNotFound, "InvalidResourceType", "the resource type %s/%s is not listed at subscription scope by the simulated Azure Local", ns, typ)
	}
	if err := methodOnly(method, http.MethodGet); err != nil {
		return err
	}
	c.operation = c.kind.opPrefix + "_ListAll"
	if c.kind == kindMachine {
		c.operation = "Machines_ListBySubscription"
	}
	return nil
}
