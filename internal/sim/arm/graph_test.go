package arm_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
)

const graphPath = "/providers/Microsoft.ResourceGraph/resources?api-version=" + arm.GraphAPIVersion

func vmiQuery(group string) string {
	return "Resources | where type =~ 'microsoft.azurestackhci/virtualmachineinstances' | where resourceGroup =~ '" + group + "' | order by id asc"
}

func graphBody(query string, top int, skipToken string) map[string]any {
	opts := map[string]any{"resultFormat": "objectArray"}
	if top > 0 {
		opts["$top"] = top
	}
	if skipToken != "" {
		opts["$skipToken"] = skipToken
	}
	return map[string]any{"subscriptions": []string{sub}, "query": query, "options": opts}
}

// TestResourceGraphPagesVMInstances: the one query shape served returns
// every VM instance of the resource group, each once, as a GET serves it,
// in pages of $top joined by $skipToken; machines without an instance are
// not rows.
func TestResourceGraphPagesVMInstances(t *testing.T) {
	s := newSim(t)
	s.infra()
	const n = 7
	for i := range n {
		s.vm(fmt.Sprintf("vm-%02d", i))
	}
	s.must(200, "PUT", machinePath("bare")+hcAPI, machineBody("HCI")) // no instance

	seen := map[string]bool{}
	pages, tok := 0, ""
	for {
		r := s.must(200, "POST", graphPath, graphBody(vmiQuery(rg), 3, tok))
		pages++
		if got := r.prop("totalRecords"); got != float64(n) {
			t.Fatalf("totalRecords %v, want %d", got, n)
		}
		data, _ := r.body["data"].([]any)
		if r.prop("count") != float64(len(data)) || r.prop("resultTruncated") != "false" {
			t.Fatalf("page %d: count %v for %d rows, resultTruncated %v", pages, r.prop("count"), len(data), r.prop("resultTruncated"))
		}
		for _, row := range data {
			m := row.(map[string]any)
			id, _ := m["id"].(string)
			props, _ := m["properties"].(map[string]any)
			if m["type"] != "microsoft.azurestackhci/virtualmachineinstances" || m["resourceGroup"] != rg || props["vmId"] == "" || seen[id] {
				t.Fatalf("row %v", m)
			}
			if _, leaked := props["osProfile"].(map[string]any)["adminPassword"]; leaked {
				t.Fatalf("row %s carries the admin password", id)
			}
			seen[id] = true
		}
		tok, _ = r.body["$skipToken"].(string)
		if tok == "" {
			break
		}
	}
	if len(seen) != n || pages != 3 {
		t.Fatalf("%d instances in %d pages, want %d in 3", len(seen), pages, n)
	}
	one := s.must(200, "GET", vmiPath("vm-03")+hciAPI, nil)
	if !seen[one.body["id"].(string)] {
		t.Fatalf("the GET's id %v is not a row", one.body["id"])
	}
}

// TestResourceGraphRefuses: what the sim does not serve is a 400 that says
// what it serves; a token from another query or a forged one is refused;
// no token, no answer.
func TestResourceGraphRefuses(t *testing.T) {
	s := newSim(t)
	s.infra()
	s.vm("vm-a")
	s.vm("vm-b")
	first := s.must(200, "POST", graphPath, graphBody(vmiQuery(rg), 1, ""))
	tok, _ := first.body["$skipToken"].(string)
	if tok == "" {
		t.Fatal("no $skipToken with more rows to come")
	}
	for _, tc := range []struct {
		name   string
		path   string
		body   map[string]any
		status int
		code   string
	}{
		{"another query", graphPath, graphBody("Resources | project id", 0, ""), 400, "InvalidQuery"},
		{"a query with injected text", graphPath, graphBody(vmiQuery(rg+"' or 1==1 or '"), 0, ""), 400, "InvalidQuery"},
		{"top over 1000", graphPath, graphBody(vmiQuery(rg), 1001, ""), 400, "InvalidRequestContent"},
		{"table format", graphPath, map[string]any{"subscriptions": []string{sub}, "query": vmiQuery(rg), "options": map[string]any{"resultFormat": "table"}}, 400, "InvalidRequestContent"},
		{"token of another group", graphPath, graphBody(vmiQuery("othergroup"), 1, tok), 400, "InvalidSkipToken"},
		{"forged token", graphPath, graphBody(vmiQuery(rg), 1, strings.Replace(tok, "a", "b", 1)+"x"), 400, "InvalidSkipToken"},
		{"old api-version", "/providers/Microsoft.ResourceGraph/resources?api-version=2019-04-01", graphBody(vmiQuery(rg), 0, ""), 400, "InvalidApiVersionParameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do("POST", tc.path, tc.body)
			if r.status != tc.status || r.errCode() != tc.code {
				t.Fatalf("got %d %s, want %d %s: %s", r.status, r.errCode(), tc.status, tc.code, r.raw)
			}
		})
	}
	if r := s.doAuth("POST", graphPath, graphBody(vmiQuery(rg), 0, ""), ""); r.status != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", r.status)
	}
	if r := s.do("GET", graphPath, nil); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", r.status)
	}
}

// TestResourceGraphFault: Resource Graph's operation is "Resources", so a
// fault can refuse it (as a real ARM without Resource Graph access does)
// while the resource provider serves on.
func TestResourceGraphFault(t *testing.T) {
	s := newSim(t)
	if err := s.srv.Inject(arm.Fault{Operation: "Resources", Transient: 1, Status: http.StatusForbidden}); err != nil {
		t.Fatal(err)
	}
	if r := s.do("POST", graphPath, graphBody(vmiQuery(rg), 0, "")); r.status != http.StatusForbidden {
		t.Fatalf("with the fault: %d %s", r.status, r.raw)
	}
	if r := s.do("POST", graphPath, graphBody(vmiQuery(rg), 0, "")); r.status != http.StatusOK || r.prop("totalRecords") != float64(0) {
		t.Fatalf("after the fault: %d %s", r.status, r.raw)
	}
}
