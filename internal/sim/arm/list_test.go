package arm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
)

func machinesOf(subscription, group string) string {
	if group == "" {
		return "/subscriptions/" + subscription + "/providers/Microsoft.HybridCompute/machines"
	}
	return "/subscriptions/" + subscription + "/resourceGroups/" + group + "/providers/Microsoft.HybridCompute/machines"
}

// putMachines creates the machines names in group of sub.
func (s *sim) putMachines(group string, names ...string) {
	s.t.Helper()
	for _, n := range names {
		s.must(200, "PUT", machinesOf(sub, group)+"/"+n+hcAPI, machineBody("HCI"))
	}
}

// walk follows a list's nextLinks from its first page and returns the names
// of every member, page by page.
func (s *sim) walk(first string) [][]string {
	s.t.Helper()
	var pages [][]string
	for next := first; next != ""; {
		r := s.must(200, "GET", next, nil)
		var names []string
		for _, v := range r.prop("value").([]any) {
			names = append(names, v.(map[string]any)["name"].(string))
		}
		pages = append(pages, names)
		next, _ = r.prop("nextLink").(string)
		if len(pages) > 100 {
			s.t.Fatalf("more than 100 pages from %s", first)
		}
	}
	return pages
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i)
	}
	return out
}

// TestListPaging: lists longer than a page come in pages of PageSize with a
// nextLink on every page but the last, each member once, in name order;
// subscription-wide lists span the subscription's resource groups and no
// other subscription's.
func TestListPaging(t *testing.T) {
	s := startSim(t, t.TempDir(), arm.Options{PageSize: 3})
	s.putMachines(rg, names("a", 7)...)
	s.putMachines("zz-other", names("b", 2)...)
	s.must(200, "PUT", machinesOf("0b8f4b3a-0000-4000-8000-000000000001", rg)+"/foreign"+hcAPI, machineBody("HCI"))
	s.putMachines("exact", names("c", 6)...)
	for _, tc := range []struct {
		name, list string
		want       [][]string
	}{
		{"resource group", machinesOf(sub, rg), [][]string{{"a00", "a01", "a02"}, {"a03", "a04", "a05"}, {"a06"}}},
		{"a multiple of the page size", machinesOf(sub, "exact"), [][]string{{"c00", "c01", "c02"}, {"c03", "c04", "c05"}}},
		{"subscription", machinesOf(sub, ""), [][]string{
			{"c00", "c01", "c02"}, {"c03", "c04", "c05"}, {"a00", "a01", "a02"}, {"a03", "a04", "a05"}, {"a06", "b00", "b01"}}},
		{"empty", machinesOf(sub, "none"), [][]string{nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.walk(tc.list + hcAPI)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("pages %v, want %v", got, tc.want)
			}
		})
	}
}

// TestListPagingWhileChanging: a page starts after the last member served,
// not at a count, so deleting a member already served does not hide the
// next one and a new member before the cursor does not repeat one.
func TestListPagingWhileChanging(t *testing.T) {
	s := startSim(t, t.TempDir(), arm.Options{PageSize: 2})
	s.putMachines(rg, "m1", "m2", "m3", "m4", "m5")
	first := s.must(200, "GET", machinesOf(sub, rg)+hcAPI, nil)
	s.must(202, "DELETE", machinePath("m1")+hcAPI, nil)
	s.putMachines(rg, "m0")
	next, _ := first.prop("nextLink").(string)
	if next == "" {
		t.Fatalf("no nextLink: %s", first.raw)
	}
	rest := s.walk(next)
	if fmt.Sprint(rest) != "[[m3 m4] [m5]]" {
		t.Fatalf("after m2, with m1 deleted and m0 added: pages %v, want [[m3 m4] [m5]]", rest)
	}
}

// TestSkipTokenRefused: a nextLink whose $skiptoken the list did not issue
// is a 400 InvalidSkipToken that says to start over, never a page.
func TestSkipTokenRefused(t *testing.T) {
	s := startSim(t, t.TempDir(), arm.Options{PageSize: 1})
	s.putMachines(rg, "m1", "m2")
	list := machinesOf(sub, rg)
	next, _ := s.must(200, "GET", list+hcAPI, nil).prop("nextLink").(string)
	u, err := url.Parse(next)
	if err != nil || u.Query().Get("$skiptoken") == "" {
		t.Fatalf("nextLink %q has no $skiptoken (%v)", next, err)
	}
	good := u.Query().Get("$skiptoken")
	other := startSim(t, t.TempDir(), arm.Options{PageSize: 1})
	other.putMachines(rg, "m1", "m2")
	foreign, _ := other.must(200, "GET", list+hcAPI, nil).prop("nextLink").(string)
	fu, _ := url.Parse(foreign)
	payload, sig, _ := strings.Cut(good, ".")
	for _, tc := range []struct {
		name, path, token string
	}{
		{"garbled", list, "not-a-token"},
		{"empty", list, ""},
		{"cut short", list, good[:len(good)-5]},
		{"payload changed", list, strings.ToUpper(payload[:4]) + payload[4:] + "." + sig},
		{"another list's", machinesOf(sub, ""), good},
		{"another sim's", list, fu.Query().Get("$skiptoken")},
		{"expired", list, arm.SkipTokenAt(s.srv, list, "m1", time.Now().Add(-2*time.Hour))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"api-version": {arm.HybridComputeAPIVersion}, "$skiptoken": {tc.token}}
			r := s.do("GET", tc.path+"?"+q.Encode(), nil)
			msg, _ := r.prop("error.message").(string)
			if r.status != 400 || r.errCode() != "InvalidSkipToken" || !strings.Contains(msg, "first page") {
				t.Fatalf("got %d %s, want 400 InvalidSkipToken saying to list from the first page: %s", r.status, r.errCode(), r.raw)
			}
		})
	}
	// The good token still works: refusals are not a broken pager.
	r := s.must(200, "GET", next, nil)
	if v, _ := r.prop("value").([]any); len(v) != 1 || v[0].(map[string]any)["name"] != "m2" {
		t.Fatalf("the issued nextLink: %s, want m2", r.raw)
	}
}

// TestSDKPagerWalksAllPages: the Azure SDK's runtime.Pager, fetching each
// nextLink through the SDK pipeline (bearer token, retries), as generated
// clients' NewListPager do, walks every page of a subscription-wide list.
func TestSDKPagerWalksAllPages(t *testing.T) {
	s := startSim(t, t.TempDir(), arm.Options{PageSize: 4})
	s.putMachines(rg, names("m", 9)...)
	s.putMachines("second", names("n", 3)...)
	pl := sdkPipeline(t, s, true)
	type page struct {
		Value []struct {
			Name string `json:"name"`
		} `json:"value"`
		NextLink *string `json:"nextLink"`
	}
	first := s.base + machinesOf(sub, "") + hcAPI
	pager := runtime.NewPager(runtime.PagingHandler[page]{
		More: func(p page) bool { return p.NextLink != nil && *p.NextLink != "" },
		Fetcher: func(ctx context.Context, p *page) (page, error) {
			u := first
			if p != nil {
				u = *p.NextLink
			}
			req, err := runtime.NewRequest(ctx, http.MethodGet, u)
			if err != nil {
				return page{}, err
			}
			resp, err := pl.Do(req)
			if err != nil {
				return page{}, err
			}
			if !runtime.HasStatusCode(resp, http.StatusOK) {
				return page{}, runtime.NewResponseError(resp)
			}
			var out page
			return out, runtime.UnmarshalAsJSON(resp, &out)
		},
	})
	var got []string
	pages := 0
	for pager.More() {
		p, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, v := range p.Value {
			got = append(got, v.Name)
		}
	}
	want := append(names("n", 3), names("m", 9)...)
	if pages != 3 || !slices.Equal(got, want) {
		t.Fatalf("%d pages of %v, want 3 pages of %v", pages, got, want)
	}
}

// TestListBySubscription: every type the spec lists at subscription scope
// is served there; the nested ones (instances, run commands) are not.
func TestListBySubscription(t *testing.T) {
	s := newSim(t)
	s.infra()
	s.vm("vm1")
	for _, tc := range []struct {
		typ, api string
		status   int
		want     string
	}{
		{"Microsoft.HybridCompute/machines", hcAPI, 200, "vm1"},
		{"Microsoft.AzureStackHCI/marketplaceGalleryImages", hciAPI, 200, "win11"},
		{"Microsoft.AzureStackHCI/logicalNetworks", hciAPI, 200, "lnet"},
		{"Microsoft.AzureStackHCI/networkInterfaces", hciAPI, 200, "nic"},
		{"Microsoft.AzureStackHCI/storageContainers", hciAPI, 200, ""},
		{"Microsoft.AzureStackHCI/virtualMachineInstances", hciAPI, 404, ""},
		{"Microsoft.AzureStackHCI/galleryImages", hciAPI, 404, ""},
		{"Microsoft.Compute/virtualMachines", hciAPI, 400, ""},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			r := s.do("GET", "/subscriptions/"+sub+"/providers/"+tc.typ+tc.api, nil)
			if r.status != tc.status {
				t.Fatalf("got %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if tc.status != 200 {
				return
			}
			var got []string
			for _, v := range r.prop("value").([]any) {
				got = append(got, v.(map[string]any)["name"].(string))
			}
			if want := strings.Fields(tc.want); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("listed %v, want %v", got, want)
			}
		})
	}
}

// TestMethodNotAllowed: a method a path does not serve is a 405 with an
// Allow header naming the ones it does and an ARM error body.
func TestMethodNotAllowed(t *testing.T) {
	s := newSim(t)
	s.infra()
	s.vm("vm1")
	for _, tc := range []struct {
		name, method, path, allow string
	}{
		{"DELETE a collection", "DELETE", group() + "/providers/Microsoft.AzureStackHCI/logicalNetworks" + hciAPI, "GET"},
		{"PUT a subscription list", "PUT", "/subscriptions/" + sub + "/providers/Microsoft.HybridCompute/machines" + hcAPI, "GET"},
		{"POST a logical network", "POST", hciPath("logicalNetworks", "lnet") + hciAPI, "GET, PUT, PATCH, DELETE"},
		{"PATCH a run command", "PATCH", machinePath("vm1") + "/runCommands/rc" + hcAPI, "GET, PUT, DELETE"},
		{"GET an action", "GET", vmiPath("vm1") + "/start" + hciAPI, "POST"},
		{"DELETE an operation status", "DELETE", "/subscriptions/" + sub + "/providers/Microsoft.AzureStackHCI/locations/eastus/operationStatuses/x" + hciAPI, "GET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(tc.method, tc.path, map[string]any{})
			msg, _ := r.prop("error.message").(string)
			if r.status != 405 || r.header.Get("Allow") != tc.allow || r.errCode() != "MethodNotAllowed" || !strings.Contains(msg, tc.method) {
				t.Fatalf("got %d Allow %q %s, want 405 Allow %q MethodNotAllowed naming %s: %s", r.status, r.header.Get("Allow"), r.errCode(), tc.allow, tc.method, r.raw)
			}
			var body map[string]map[string]string
			if err := json.Unmarshal([]byte(r.raw), &body); err != nil || body["error"]["code"] == "" {
				t.Fatalf("not an ARM error body: %s (%v)", r.raw, err)
			}
		})
	}
}
