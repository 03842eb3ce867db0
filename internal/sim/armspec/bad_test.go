package armspec_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/sim/armspec"
)

const (
	machine = "/subscriptions/fd3c3665-1729-4b7b-9a38-238e83b0f98b/resourceGroups/testrg/providers/Microsoft.HybridCompute/machines/avd-01"
	vmi     = machine + "/providers/Microsoft.AzureStackHCI/virtualMachineInstances/default"
	mgi     = "/subscriptions/fd3c3665-1729-4b7b-9a38-238e83b0f98b/resourceGroups/testrg/providers/Microsoft.AzureStackHCI/marketplaceGalleryImages/win11"
	api     = "?api-version=2024-01-01"
	extLoc  = `"extendedLocation":{"type":"CustomLocation","name":"/subscriptions/s/resourceGroups/g/providers/Microsoft.ExtendedLocation/customLocations/cl"}`
)

// vmiBody is a virtualMachineInstances PUT body with securityProfile fields replaced by security.
func vmiBody(security string) string {
	return `{` + extLoc + `,"properties":{"hardwareProfile":{"vmSize":"Custom","processors":4,"memoryMB":8192},` +
		`"securityProfile":{` + security + `}}}`
}

func newRequest(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "https://management.azure.com"+url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer t")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func TestValidateRequest(t *testing.T) {
	s := spec(t)
	tests := []struct {
		name, method, url, body string
		noAuth                  bool
		want                    []string // substrings of the error; none: valid
		noOp                    bool     // the error wraps ErrNoOperation
	}{
		{name: "trusted launch VM instance", method: "PUT", url: vmi + api,
			body: vmiBody(`"securityType":"TrustedLaunch","enableTPM":true,"uefiSettings":{"secureBootEnabled":true}`)},
		{name: "resourceUri spans segments for a POST action", method: "POST", url: vmi + "/start" + api},
		{name: "unknown enum value", method: "PUT", url: vmi + api, body: vmiBody(`"securityType":"Bogus"`),
			want: []string{"VirtualMachineInstances_CreateOrUpdate", "PUT " + vmi, "/properties/securityProfile/securityType", "allowed values", `"Bogus"`}},
		{name: "wrong type", method: "PUT", url: vmi + api, body: vmiBody(`"enableTPM":"yes"`),
			want: []string{"VirtualMachineInstances_CreateOrUpdate", "/properties/securityProfile/enableTPM", "boolean", `"yes"`}},
		{name: "missing required property", method: "PUT", url: mgi + api,
			body: `{` + extLoc + `,"properties":{"osType":"Windows"}}`,
			want: []string{"MarketplaceGalleryImages_CreateOrUpdate", `property "location" is missing`}},
		{name: "unknown property", method: "PUT", url: vmi + api, body: vmiBody(`"securityTyp":"TrustedLaunch"`),
			want: []string{"VirtualMachineInstances_CreateOrUpdate", `at /properties/securityProfile/securityTyp: property "securityTyp" is not in the schema`, `"securityType"`}},
		{name: "tags are an open map of strings", method: "PUT", url: mgi + api,
			body: `{` + extLoc + `,"location":"westeurope","tags":{"any-key":"v"},"properties":{"osType":"Windows"}}`},
		{name: "read-only property in a request", method: "PUT", url: vmi + api,
			body: `{` + extLoc + `,"properties":{"provisioningState":"Succeeded"}}`,
			want: []string{"VirtualMachineInstances_CreateOrUpdate", "provisioningState", "readOnly"}},
		{name: "missing body", method: "PUT", url: mgi + api,
			want: []string{"MarketplaceGalleryImages_CreateOrUpdate", "body", "required"}},
		{name: "missing api-version", method: "GET", url: vmi,
			want: []string{"VirtualMachineInstances_Get", `parameter "api-version" in query`}},
		{name: "another api-version", method: "GET", url: vmi + "?api-version=2023-09-01-preview",
			want: []string{"VirtualMachineInstances_Get", `api-version "2023-09-01-preview"`, `"2024-01-01"`}},
		{name: "no bearer token", method: "GET", url: vmi + api, noAuth: true,
			want: []string{"VirtualMachineInstances_Get", "bearer token"}},
		{name: "name breaks the pattern", method: "GET", url: mgi + "!" + api,
			want: []string{"MarketplaceGalleryImages_Get", `parameter "marketplaceGalleryImageName" in path`}},
		{name: "unknown path", method: "PUT", url: "/subscriptions/s/resourceGroups/g/providers/Microsoft.AzureStackHCI/virtualMachines/v" + api,
			noOp: true, want: []string{"no operation in the spec matches PUT /subscriptions/s/resourceGroups/g/providers/Microsoft.AzureStackHCI/virtualMachines/v"}},
		{name: "method the path lacks", method: "DELETE", url: vmi + "/start" + api,
			noOp: true, want: []string{"no operation in the spec matches DELETE", "that path allows POST (VirtualMachineInstances_Start)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(t, tt.method, tt.url, tt.body)
			if tt.noAuth {
				req.Header.Del("Authorization")
			}
			err := s.ValidateRequest(req, []byte(tt.body))
			check(t, err, tt.want)
			if got := errors.Is(err, armspec.ErrNoOperation); got != tt.noOp {
				t.Errorf("errors.Is(err, ErrNoOperation) = %v, want %v", got, tt.noOp)
			}
		})
	}
}

func TestValidateResponse(t *testing.T) {
	s := spec(t)
	json := http.Header{"Content-Type": {"application/json"}}
	vmiResp := `{"id":"` + vmi + `","name":"default","type":"Microsoft.AzureStackHCI/virtualMachineInstances",` + extLoc +
		`,"properties":{"provisioningState":"Succeeded","securityProfile":{"securityType":%s}}}`
	tests := []struct {
		name, method, url string
		status            int
		header            http.Header
		body              string
		want              []string
	}{
		{name: "instance", method: "GET", url: vmi + api, status: 200, header: json,
			body: strings.Replace(vmiResp, "%s", `"TrustedLaunch"`, 1)},
		{name: "ARM error", method: "GET", url: vmi + api, status: 404, header: json,
			body: `{"error":{"code":"ResourceNotFound","message":"not found"}}`},
		{name: "accepted action without body", method: "POST", url: vmi + "/stop" + api, status: 202},
		{name: "unknown enum value", method: "GET", url: vmi + api, status: 200, header: json,
			body: strings.Replace(vmiResp, "%s", `"Bogus"`, 1),
			want: []string{"VirtualMachineInstances_Get", "GET " + vmi, "response 200", "/properties/securityProfile/securityType", `"Bogus"`}},
		{name: "wrong type", method: "GET", url: vmi + api, status: 200, header: json,
			body: strings.Replace(vmiResp, "%s", `"TrustedLaunch","enableTPM":"yes"`, 1),
			want: []string{"VirtualMachineInstances_Get", "/properties/securityProfile/enableTPM", "boolean", `"yes"`}},
		{name: "unknown property", method: "GET", url: vmi + api, status: 200, header: json,
			body: strings.Replace(vmiResp, "%s", `"TrustedLaunch","tpmEnabled":true`, 1),
			want: []string{"VirtualMachineInstances_Get", `at /properties/securityProfile/tpmEnabled: property "tpmEnabled" is not in the schema`}},
		{name: "secret returned", method: "GET", url: vmi + api, status: 200, header: json,
			body: strings.Replace(strings.Replace(vmiResp, "%s", `"TrustedLaunch"`, 1), `"securityProfile"`, `"osProfile":{"adminPassword":"p@ss"},"securityProfile"`, 1),
			want: []string{"VirtualMachineInstances_Get", "at /properties/osProfile/adminPassword: secret property (x-ms-secret) returned in a response"}},
		{name: "null is absent for an optional property", method: "GET", url: vmi + api, status: 200, header: json,
			body: strings.Replace(vmiResp, "%s", `"TrustedLaunch","enableTPM":null`, 1)},
		{name: "missing required property", method: "GET", url: vmi + "/guestAgents" + api, status: 200, header: json,
			body: `{"nextLink":"x"}`, want: []string{"GuestAgents_List", `property "value" is missing`}},
		{name: "error body of the wrong shape", method: "GET", url: vmi + api, status: 500, header: json,
			body: `{"error":"boom"}`, want: []string{"VirtualMachineInstances_Get", "response 500", "/error", "object"}},
		{name: "no content type", method: "GET", url: vmi + api, status: 200,
			body: strings.Replace(vmiResp, "%s", `"TrustedLaunch"`, 1), want: []string{"VirtualMachineInstances_Get", "Content-Type"}},
		{name: "unknown path", method: "GET", url: "/nowhere" + api, status: 200, header: json, body: `{}`,
			want: []string{"no operation in the spec matches GET /nowhere"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newRequest(t, tt.method, tt.url, "")
			check(t, s.ValidateResponse(req, tt.status, tt.header, []byte(tt.body)), tt.want)
		})
	}
}

// check fails t unless err contains every string of want, or is nil when want is empty.
func check(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error; want one containing %q", want)
	}
	t.Log(err)
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}
