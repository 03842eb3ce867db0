package armspec_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/sim/armspec"
)

// A test of the simulated ARM gives its client the spec's transport, so that every request the test
// makes and every response the server gives is checked against Microsoft's specification.
func ExampleSpec_Transport() {
	var t *testing.T // the test's
	spec, err := armspec.Load("../../../../shared/testdata/azure-rest-api-specs")
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: spec.Transport(http.DefaultTransport, func(err error) { t.Error(err) })}
	_ = client // use it, or pass spec.Transport(...) to azcore as policy.ClientOptions.Transport
}

// Microsoft's examples are requests to replay against a server and responses to compare with.
func ExampleSpec_Examples() {
	var t *testing.T // the test's
	spec, err := armspec.Load("../../../../shared/testdata/azure-rest-api-specs")
	if err != nil {
		t.Fatal(err)
	}
	examples, err := spec.Examples()
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range examples {
		req, err := ex.Request(t.Context(), "https://127.0.0.1:8443")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println(ex.OperationID, req.Method, req.URL.Path, ex.Statuses())
	}
}
