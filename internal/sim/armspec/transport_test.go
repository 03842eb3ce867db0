package armspec_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestTransport serves one good and one bad answer through an httptest server and checks that the
// transport reports exactly the violations, and leaves the bodies readable for the client.
func TestTransport(t *testing.T) {
	s := spec(t)
	good := `{"id":"` + vmi + `","name":"default",` + extLoc + `,"properties":{"securityProfile":{"securityType":"TrustedLaunch"}}}`
	bad := strings.Replace(good, "TrustedLaunch", "Bogus", 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(string(body), "Bogus") {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"code":"InvalidRequestContent","message":"securityType"}}`)
			return
		}
		if strings.Contains(r.URL.RawQuery, "bad") {
			_, _ = io.WriteString(w, bad)
			return
		}
		_, _ = io.WriteString(w, good)
	}))
	defer srv.Close()

	tests := []struct {
		name, method, path, query, body string
		want                            []string // substrings of the one violation reported; none: no violation
	}{
		{name: "valid exchange", method: "GET", query: api},
		{name: "violating response", method: "GET", query: api + "&bad=1",
			want: []string{"VirtualMachineInstances_Get", "response 200 breaks the spec", `"Bogus"`}},
		{name: "unknown path, reported once", method: "GET", path: "/subscriptions/s/providers/Microsoft.Nowhere/things", query: api,
			want: []string{"no operation in the spec matches GET /subscriptions/s/providers/Microsoft.Nowhere/things"}},
		{name: "violating request, valid error response", method: "PUT", query: api, body: vmiBody(`"securityType":"Bogus"`),
			want: []string{`VirtualMachineInstances_CreateOrUpdate`, "request breaks the spec", `"Bogus"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			client := &http.Client{Transport: s.Transport(srv.Client().Transport, func(err error) {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, err.Error())
			})}
			path := tt.path
			if path == "" {
				path = vmi
			}
			req := newRequest(t, tt.method, path+tt.query, tt.body)
			req.URL.Scheme, req.URL.Host = "http", strings.TrimPrefix(srv.URL, "http://")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err != nil || len(body) == 0 {
				t.Fatalf("response body after the transport: %q, %v", body, err)
			}
			if want := min(len(tt.want), 1); len(got) != want {
				t.Fatalf("reported %d violations, want %d:\n%s", len(got), want, strings.Join(got, "\n"))
			}
			for _, w := range tt.want {
				if !strings.Contains(got[0], w) {
					t.Errorf("violation lacks %q: %s", w, got[0])
				}
			}
		})
	}
}
