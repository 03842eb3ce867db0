package plan

import (
	"fmt"

	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// imageFinding warns about a VM whose image only an ImageCatalog adds: Azure
// Local supports trusted launch only with the built-in images. The image is
// looked up as validation and Azure do (case-insensitively), so an image
// written in another letter case than its catalog entry is still warned about.
func (b *builder) imageFinding(cluster string, d *spec.VM) {
	img, ok := b.catalog(d.Image)
	if !ok || img.BuiltIn {
		return
	}
	where := ""
	if img.Pos.File != "" {
		where = fmt.Sprintf(" (added by the ImageCatalog at %s:%d)", img.Pos.File, img.Pos.Line)
	}
	b.finding(SeverityWarning, RuleImageOutsideCatalog, "vm/"+d.Name, cluster,
		fmt.Sprintf("vm/%s: image %s/%s/%s/%s is outside the built-in support list%s; Azure Local supports trusted launch only with the built-in Azure Marketplace images", d.Name, d.Image.Publisher, d.Image.Offer, d.Image.Sku, d.Image.Version, where))
}
