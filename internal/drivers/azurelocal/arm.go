package azurelocal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	armpolicy "github.com/Azure/azure-sdk-for-go/sdk/azcore/arm/policy"
	armruntime "github.com/Azure/azure-sdk-for-go/sdk/azcore/arm/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// Version is the user agent version of the driver's ARM requests.
const moduleName, moduleVersion = "tlreconcile-azurelocal", "v2"

// armConfig is what the ARM client needs: where ARM is, who asks, and in
// which subscription and resource group the cluster's VMs live.
type armConfig struct {
	Cloud          cloud.Configuration // ResourceManager endpoint and audience, AAD authority
	Credential     azcore.TokenCredential
	Transport      policy.Transporter // nil: the SDK's default HTTP client
	Subscription   string
	ResourceGroup  string
	Location       string // the Azure region of the cluster's resources
	CustomLocation string // the cluster's custom location resource ID
	// Retry tunes the SDK's retry policy (zero: the SDK's defaults, which
	// honour Retry-After on 429 and retry 408/5xx).
	Retry policy.RetryOptions
	// PollFrequency is how often a long-running operation is polled when the
	// service does not say (Retry-After); zero means 2 s.
	PollFrequency time.Duration
}

// armClient is the driver's ARM client: the SDK's ARM pipeline (bearer token,
// retries, RP registration, request IDs) plus the paths of the two resource
// providers. It holds no state besides the pipeline: every call travels
// whole, so a fresh client can apply a saved plan.
type armClient struct {
	pl       runtime.Pipeline
	endpoint string // https://management.azure.com, without a trailing slash
	cfg      armConfig
}

func newARMClient(cfg armConfig) (*armClient, error) {
	svc, ok := cfg.Cloud.Services[cloud.ResourceManager]
	if !ok || svc.Endpoint == "" || svc.Audience == "" {
		return nil, errors.New("azurelocal: the cloud configuration has no Azure Resource Manager endpoint and audience")
	}
	if cfg.Credential == nil {
		return nil, errors.New("azurelocal: no credential")
	}
	for name, v := range map[string]string{"subscriptionId": cfg.Subscription, "resourceGroup": cfg.ResourceGroup} {
		if v == "" || strings.ContainsAny(v, "/?#") {
			return nil, fmt.Errorf("azurelocal: azure.%s %q is empty or not a single path segment", name, v)
		}
	}
	opts := &armpolicy.ClientOptions{ClientOptions: azcore.ClientOptions{
		Cloud: cfg.Cloud, Transport: cfg.Transport, Retry: cfg.Retry,
		Telemetry: policy.TelemetryOptions{ApplicationID: "tlreconcile"},
	}}
	pl, err := armruntime.NewPipeline(moduleName, moduleVersion, cfg.Credential, runtime.PipelineOptions{}, opts)
	if err != nil {
		return nil, fmt.Errorf("azurelocal: ARM pipeline: %w", err)
	}
	if cfg.PollFrequency <= 0 {
		cfg.PollFrequency = 2 * time.Second
	}
	return &armClient{pl: pl, endpoint: strings.TrimRight(svc.Endpoint, "/"), cfg: cfg}, nil
}

// groupPath is the resource group's path.
func (c *armClient) groupPath() string {
	return "/subscriptions/" + url.PathEscape(c.cfg.Subscription) + "/resourceGroups/" + url.PathEscape(c.cfg.ResourceGroup)
}

// machinePath is the Arc machine of the VM name.
func (c *armClient) machinePath(name string) string {
	return c.groupPath() + "/providers/" + machinesType + "/" + url.PathEscape(name)
}

// vmPath is the VM instance of the Arc machine name.
func (c *armClient) vmPath(name string) string { return c.machinePath(name) + vmInstancePath }

// hciPath is an Azure Local resource of the resource group.
func (c *armClient) hciPath(typ, name string) string {
	return c.groupPath() + "/providers/Microsoft.AzureStackHCI/" + typ + "/" + url.PathEscape(name)
}

// apiVersionOf picks the api-version from the resource path: the VM instance
// is Azure Local's even below a HybridCompute machine.
func apiVersionOf(path string) string {
	if strings.Contains(path, "/providers/Microsoft.AzureStackHCI/") {
		return stackHCIAPIVersion
	}
	return hybridComputeAPIVersion
}

// request builds a request for path (or an absolute nextLink/poll URL) with
// its api-version and a JSON body when body is not nil.
func (c *armClient) request(ctx context.Context, method, path string, body any) (*policy.Request, error) {
	target := path
	if !strings.HasPrefix(path, "https://") {
		target = c.endpoint + path
	}
	req, err := runtime.NewRequest(ctx, method, target)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(path, "https://") {
		q := req.Raw().URL.Query()
		q.Set("api-version", apiVersionOf(path))
		req.Raw().URL.RawQuery = q.Encode()
	}
	req.Raw().Header.Set("Accept", "application/json")
	if body != nil {
		if err := runtime.MarshalAsJSON(req, body); err != nil {
			return nil, err
		}
	}
	return req, nil
}

// do sends a request and returns the response when its status is one of ok;
// any other answer becomes an *armError mapped to the driver sentinels.
func (c *armClient) do(ctx context.Context, method, path string, body any, ok ...int) (*http.Response, error) {
	req, err := c.request(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.pl.Do(req)
	if err != nil {
		return nil, transportError(method, path, err)
	}
	if !runtime.HasStatusCode(resp, ok...) {
		return nil, errorFrom(resp)
	}
	return resp, nil
}

// get reads one resource into out; a 404 is ErrNotFound.
func (c *armClient) get(ctx context.Context, path string, out any) error {
	resp, err := c.do(ctx, http.MethodGet, path, nil, http.StatusOK)
	if err != nil {
		return err
	}
	return decode(resp, out)
}

// wait follows a long-running operation that resp started until it ends,
// decoding the final resource into out (nil: ignore it). via says where the
// final resource is, as the spec's x-ms-long-running-operation-options say.
func wait[T any](ctx context.Context, c *armClient, resp *http.Response, via runtime.FinalStateVia) (T, error) {
	var zero T
	poller, err := runtime.NewPoller[T](resp, c.pl, &runtime.NewPollerOptions[T]{FinalStateVia: via})
	if err != nil {
		return zero, fmt.Errorf("azurelocal: follow the operation: %w", err)
	}
	if err := pollUntilDone(ctx, poller, resp, c.cfg.PollFrequency); err != nil {
		return zero, lroError(err)
	}
	res, err := poller.Result(ctx)
	if err != nil {
		return zero, lroError(err)
	}
	return res, nil
}

// pollUntilDone polls until the operation ends, waiting what a response's
// Retry-After says, else every freq. It is the SDK's PollUntilDone loop
// without its one-second floor (which the SDK lifts only inside `go test`):
// the embedded simulated Azure Local finishes an operation in milliseconds,
// and a real cluster's ARM always sends Retry-After, which wins.
func pollUntilDone[T any](ctx context.Context, p *runtime.Poller[T], resp *http.Response, freq time.Duration) error {
	for !p.Done() {
		wait := freq
		if d := retryAfter(resp); d > 0 {
			wait = d
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		var err error
		if resp, err = p.Poll(ctx); err != nil {
			return err
		}
	}
	return nil
}

// retryAfter is a response's Retry-After in seconds (ARM sends seconds), 0
// when it has none or it does not parse.
func retryAfter(resp *http.Response) time.Duration {
	if resp == nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After")))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(min(n, 600)) * time.Second
}

// list walks every page of the list at path, calling each with every item.
func list[T any](ctx context.Context, c *armClient, path string, each func(T) error) (pages int, err error) {
	next := path
	for next != "" {
		var p page[T]
		if err := c.get(ctx, next, &p); err != nil {
			return pages, err
		}
		pages++
		for _, item := range p.Value {
			if err := each(item); err != nil {
				return pages, err
			}
		}
		if p.NextLink != "" && !strings.HasPrefix(p.NextLink, c.endpoint+"/") {
			return pages, fmt.Errorf("azurelocal: ARM returned a nextLink outside %s: %q", c.endpoint, p.NextLink)
		}
		next = p.NextLink
	}
	return pages, nil
}

// decode reads a JSON body into out, bounded so a broken server cannot
// exhaust memory.
func decode(resp *http.Response, out any) error {
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("azurelocal: read %s %s: %w", resp.Request.Method, resp.Request.URL.Path, err)
	}
	if len(data) > maxBody {
		return fmt.Errorf("azurelocal: %s %s: answer over %d MiB", resp.Request.Method, resp.Request.URL.Path, maxBody>>20)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("azurelocal: %s %s: the answer is not the resource the spec describes: %w", resp.Request.Method, resp.Request.URL.Path, err)
	}
	return nil
}

// maxBody bounds one ARM answer (a page of 1,000 machines is about 1 MiB).
const maxBody = 64 << 20
