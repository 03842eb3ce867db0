package arm_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
)

// sdkPipeline is the Azure SDK's own client path against the sim: a
// ClientSecretCredential whose authority host is the sim, and an azcore
// pipeline with the bearer token policy and the SDK's retry policy.
func sdkPipeline(t *testing.T, s *sim, disableDiscovery bool) runtime.Pipeline {
	t.Helper()
	opts := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.base + "/"},
		Transport: s.client,
		Retry:     policy.RetryOptions{RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 2 * time.Second},
	}
	cred, err := azidentity.NewClientSecretCredential(tenant, "tlreconcile", "s3cret",
		&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: disableDiscovery})
	if err != nil {
		t.Fatal(err)
	}
	bearer := runtime.NewBearerTokenPolicy(cred, []string{"https://management.azure.com/.default"}, nil)
	return runtime.NewPipeline("tlreconcile-sim-test", "v0.0.0", runtime.PipelineOptions{PerRetry: []policy.Policy{bearer}}, &opts)
}

func sdkDo(t *testing.T, pl runtime.Pipeline, method, url string, body any) *http.Response {
	t.Helper()
	req, err := runtime.NewRequest(context.Background(), method, url)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		if err := runtime.MarshalAsJSON(req, body); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := pl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp
}

type armResource struct {
	ID         string         `json:"id"`
	Properties map[string]any `json:"properties"`
}

func pollDone[T any](t *testing.T, pl runtime.Pipeline, resp *http.Response, via runtime.FinalStateVia) T {
	t.Helper()
	if !runtime.HasStatusCode(resp, http.StatusOK, http.StatusCreated, http.StatusAccepted, http.StatusNoContent) {
		t.Fatalf("first answer: %v", runtime.NewResponseError(resp))
	}
	poller, err := runtime.NewPoller[T](resp, pl, &runtime.NewPollerOptions[T]{FinalStateVia: via})
	if err != nil {
		t.Fatal(err)
	}
	res, err := poller.PollUntilDone(context.Background(), &runtime.PollUntilDoneOptions{Frequency: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestAzureSDKClient drives the sim with the SDK's credential, pipeline and
// LRO poller, as the azurelocal driver will. Instance discovery must be off:
// for an authority host it does not know, MSAL asks login.microsoftonline.com
// (not the host) whether the host is an authority, and that is not reachable
// here (nor should a sim depend on it).
func TestAzureSDKClient(t *testing.T) {
	for _, tc := range []struct {
		name             string
		disableDiscovery bool
	}{{"client secret credential", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			pl := sdkPipeline(t, s, tc.disableDiscovery)
			url := s.base + hciPath("logicalNetworks", "lnet") + hciAPI
			ln := pollDone[armResource](t, pl, sdkDo(t, pl, http.MethodPut, url, lnetBody()), runtime.FinalStateViaAzureAsyncOp)
			if ln.Properties["provisioningState"] != "Succeeded" {
				t.Fatalf("logical network after the poller: %+v", ln)
			}

			// The SDK's retry policy rides out throttling and transient errors.
			if err := s.srv.Inject(arm.Fault{Operation: "LogicalNetworks_Get", Throttle: 1, RetryAfter: time.Second}); err != nil {
				t.Fatal(err)
			}
			if err := s.srv.Inject(arm.Fault{Operation: "LogicalNetworks_Get", Transient: 2}); err != nil {
				t.Fatal(err)
			}
			if resp := sdkDo(t, pl, http.MethodGet, url, nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("GET after retries: %v", runtime.NewResponseError(resp))
			}
			if f, _ := s.srv.Faults(); len(f) != 0 {
				t.Errorf("faults not spent by the retries: %+v", f)
			}

			s.infra2()
			s.vm("sdk")
			stopped := pollDone[armResource](t, pl, sdkDo(t, pl, http.MethodPost, s.base+vmiPath("sdk")+"/stop"+hciAPI, nil), runtime.FinalStateViaLocation)
			if st, _ := stopped.Properties["status"].(map[string]any); st["powerState"] != "Stopped" {
				t.Fatalf("after stop: %+v", stopped)
			}
			pollDone[struct{}](t, pl, sdkDo(t, pl, http.MethodDelete, s.base+vmiPath("sdk")+hciAPI, nil), runtime.FinalStateViaAzureAsyncOp)
			if resp := sdkDo(t, pl, http.MethodGet, s.base+vmiPath("sdk")+hciAPI, nil); resp.StatusCode != http.StatusNotFound {
				t.Fatalf("after delete: %d", resp.StatusCode)
			}
		})
	}
}

// infra2 is infra when the logical network exists already.
func (s *sim) infra2() {
	s.t.Helper()
	s.lro(201, "PUT", hciPath("marketplaceGalleryImages", "win11")+hciAPI, imageBody("win11-22h2-avd"))
	s.lro(201, "PUT", hciPath("networkInterfaces", "nic")+hciAPI, nicBody())
}

// TestIdentityEndpoints: the tenant discovery MSAL reads, and the refusals
// of the token endpoint.
func TestIdentityEndpoints(t *testing.T) {
	s := newSim(t)
	oidc := s.must(200, "GET", s.base+"/"+tenant+"/v2.0/.well-known/openid-configuration", nil)
	if oidc.prop("issuer") != s.base+"/"+tenant+"/v2.0" || oidc.prop("token_endpoint") != arm.TokenURL(s.base, tenant) {
		t.Errorf("openid-configuration: %s", oidc.raw)
	}
	disc := s.must(200, "GET", s.base+"/common/discovery/instance?api-version=1.1&authorization_endpoint="+s.base+"/"+tenant+"/oauth2/v2.0/authorize", nil)
	if disc.prop("tenant_discovery_endpoint") != s.base+"/"+tenant+"/v2.0/.well-known/openid-configuration" {
		t.Errorf("instance discovery: %s", disc.raw)
	}
	resp, err := s.client.PostForm(arm.TokenURL(s.base, tenant), map[string][]string{"grant_type": {"password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("grant_type password: %d", resp.StatusCode)
	}
}
