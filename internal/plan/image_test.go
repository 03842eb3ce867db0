package plan_test

import (
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/plan"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// TestImageFinding: a VM whose image only an ImageCatalog adds is warned
// about, whatever the letter case it is written in: the planner looks images
// up as validation and Azure do, case-insensitively.
func TestImageFinding(t *testing.T) {
	upper := func(i spec.Image) spec.Image {
		return spec.Image{Publisher: strings.ToUpper(i.Publisher), Offer: strings.ToUpper(i.Offer), Sku: i.Sku, Version: i.Version}
	}
	tests := []struct {
		name  string
		image spec.Image
		want  bool
	}{
		{name: "built-in", image: win11},
		{name: "built-in, other case", image: upper(win11)},
		{name: "user catalog", image: custom, want: true},
		{name: "user catalog, other case", image: upper(custom), want: true},
		{name: "user catalog, one field in other case", image: spec.Image{Publisher: "Contoso", Offer: custom.Offer, Sku: custom.Sku, Version: custom.Version}, want: true},
		{name: "in no catalog (validation reports it)", image: spec.Image{Publisher: "nobody", Offer: "x", Sku: "y", Version: "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := vmSpec("a", func(v *spec.VM) { v.Image = tt.image })
			for _, o := range [][]drivers.VM{nil, {synced(v, "node1", id1)}} {
				p := mustBuild(t, desiredOf(clusterSpec(), v), observedOf(healthyNodes(), o...), plan.Options{})
				var got *plan.Finding
				for i, f := range p.Findings {
					if f.Rule == plan.RuleImageOutsideCatalog {
						got = &p.Findings[i]
					}
				}
				if (got != nil) != tt.want {
					t.Fatalf("image-outside-builtin-catalog finding %+v, want %t (observed %d VMs)", got, tt.want, len(o))
				}
				if got != nil && (got.Resource != "vm/a" || got.Severity != plan.SeverityWarning || !strings.Contains(got.Message, "(added by the ImageCatalog at catalog.yaml:3)")) {
					t.Errorf("finding %+v", got)
				}
			}
		})
	}
}
