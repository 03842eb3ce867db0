package azurelocal

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

type fakeCred struct{}

func (fakeCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// replay answers every request with the next canned body.
type replay struct {
	bodies []string
	seen   []string
}

func (r *replay) Do(req *http.Request) (*http.Response, error) {
	r.seen = append(r.seen, req.URL.String())
	body := `{"value":[]}`
	if len(r.bodies) > 0 {
		body, r.bodies = r.bodies[0], r.bodies[1:]
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
}

func fakeClient(t *testing.T, tr policy.Transporter) *armClient {
	t.Helper()
	c, err := newARMClient(armConfig{Cloud: simCloud("https://arm.example"), Credential: fakeCred{}, Transport: tr,
		Subscription: "sub", ResourceGroup: "rg", Retry: policy.RetryOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestListFollowsNextLinkOnlyOnARM: pages are followed; a nextLink that
// leaves the ARM endpoint is refused (the bearer token would go with it).
func TestListFollowsNextLinkOnlyOnARM(t *testing.T) {
	tr := &replay{bodies: []string{
		`{"value":[{"name":"a"}],"nextLink":"https://arm.example/subscriptions/sub/resourceGroups/rg/providers/Microsoft.HybridCompute/machines?api-version=2025-01-13&$skiptoken=1"}`,
		`{"value":[{"name":"b"}],"nextLink":"https://evil.example/steal"}`,
	}}
	var names []string
	pages, err := fakeClient(t, tr).listMachines(context.Background(), func(m machine) error { names = append(names, m.Name); return nil })
	if err == nil || !strings.Contains(err.Error(), "outside https://arm.example") {
		t.Fatalf("err = %v, want the off-ARM nextLink refused", err)
	}
	if pages != 2 || strings.Join(names, ",") != "a,b" || len(tr.seen) != 2 || !strings.Contains(tr.seen[1], "skiptoken=1") {
		t.Fatalf("pages=%d names=%v seen=%v", pages, names, tr.seen)
	}
}

func TestNewARMClientRefusesBadPlaces(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  armConfig
		want string
	}{
		{"no ARM endpoint", armConfig{Credential: fakeCred{}, Subscription: "s", ResourceGroup: "r"}, "no Azure Resource Manager endpoint"},
		{"no credential", armConfig{Cloud: simCloud("https://x"), Subscription: "s", ResourceGroup: "r"}, "no credential"},
		{"empty subscription", armConfig{Cloud: simCloud("https://x"), Credential: fakeCred{}, ResourceGroup: "r"}, "subscriptionId"},
		{"path in resource group", armConfig{Cloud: simCloud("https://x"), Credential: fakeCred{}, Subscription: "s", ResourceGroup: "r/../../x"}, "resourceGroup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := newARMClient(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestPathsEscapeNames: a name cannot add path segments or a query.
func TestPathsEscapeNames(t *testing.T) {
	c := fakeClient(t, &replay{})
	if p := c.machinePath("a/b?c"); !strings.HasSuffix(p, "/machines/a%2Fb%3Fc") {
		t.Fatalf("machinePath = %q", p)
	}
}
