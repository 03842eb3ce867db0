package armspec_test

import (
	"fmt"
	"path"
	"strings"
	"testing"
)

// errata are Microsoft examples that break Microsoft's spec, by example file and status, with the
// problem the validator must report (a substring). They stay failures of the validator, checked as
// such, so that no example is excused silently and the validator is not loosened to fit them.
var errata = map[string]string{
	// The spec's provisioningState enum has no "Creating" (x-ms-enum modelAsString makes the enum
	// extensible for SDKs, but a server we write must answer with the values the spec lists).
	"PutMarketplaceGalleryImage.json 201": `at /properties/provisioningState: value is not one of the allowed values`,
}

// TestExamples walks Microsoft's own examples: each request must pass ValidateRequest and each of its
// responses ValidateResponse. A failure here is a defect of the loader or validator, not of Microsoft.
func TestExamples(t *testing.T) {
	s := spec(t)
	examples, err := s.Examples()
	if err != nil {
		t.Fatal(err)
	}
	if len(examples) == 0 {
		t.Fatal("no examples found")
	}
	t.Logf("%d examples on disk", len(examples))
	for _, ex := range examples {
		t.Run(ex.OperationID+"/"+ex.Name, func(t *testing.T) {
			t.Parallel() // one Spec, many goroutines: run with -race, this checks it is safe to share
			req, err := ex.Request(t.Context(), "https://management.azure.com")
			if err != nil {
				t.Fatal(err)
			}
			body, err := ex.Body()
			if err != nil {
				t.Fatal(err)
			}
			if err := s.ValidateRequest(req, body); err != nil {
				t.Errorf("%s: %v", ex.File, err)
			}
			for _, status := range ex.Statuses() {
				r := ex.Responses[status]
				h := r.Header.Clone()
				if r.Body != nil {
					h.Set("Content-Type", "application/json")
				}
				t.Run(fmt.Sprint(status), func(t *testing.T) {
					err := s.ValidateResponse(req, status, h, r.Body)
					want, known := errata[path.Base(ex.File)+" "+fmt.Sprint(status)]
					switch {
					case known && (err == nil || !strings.Contains(err.Error(), want)):
						t.Errorf("%s: known erratum %q not reported; got %v", ex.File, want, err)
					case !known && err != nil:
						t.Errorf("%s: %v", ex.File, err)
					}
				})
			}
		})
	}
}
