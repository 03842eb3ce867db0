package armspec

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
)

const (
	stackHCIVMDir    = "specification/azurestackhci/resource-manager/Microsoft.AzureStackHCI/StackHCIVM/stable/2024-01-01"
	hybridComputeDir = "specification/hybridcompute/resource-manager/Microsoft.HybridCompute/stable/2025-01-13"
)

// Files returns the swagger files Load reads, as slash paths relative to the bundle root: the Azure
// Local VM API and the Arc machine API it extends.
func Files() []string {
	return []string{
		stackHCIVMDir + "/virtualMachineInstances.json",
		stackHCIVMDir + "/marketplaceGalleryImages.json",
		stackHCIVMDir + "/galleryImages.json",
		stackHCIVMDir + "/logicalNetworks.json",
		stackHCIVMDir + "/networkInterfaces.json",
		stackHCIVMDir + "/storageContainers.json",
		stackHCIVMDir + "/virtualHardDisks.json",
		stackHCIVMDir + "/operations.json",
		hybridComputeDir + "/HybridCompute.json",
	}
}

// Spec is the loaded API: every operation of Files, matched by method and path. It is immutable after
// Load and safe for concurrent use.
type Spec struct {
	root string
	ops  []*operation
}

// operation is one method of one path template, with what validation and routing need.
type operation struct {
	id       string
	method   string
	template string
	file     string // absolute path of the swagger file
	pattern  *regexp.Regexp
	params   []string // path parameter names, in the order of pattern's groups
	greedy   bool     // a parameter spans several segments (x-ms-skip-url-encoding)
	version  string   // the document's info.version: the api-version its operations answer to
	route    *routers.Route
}

// Load reads Files under root (the azure-rest-api-specs folder), resolves their references into
// self-contained documents and converts them to OpenAPI 3 for validation.
func Load(root string) (*Spec, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("armspec: %w", err)
	}
	s := &Spec{root: abs}
	for _, rel := range Files() {
		path := filepath.Join(abs, filepath.FromSlash(rel))
		doc, err := loadFile(abs, path)
		if err != nil {
			return nil, fmt.Errorf("armspec: load %s: %w", rel, err)
		}
		ops, err := operations(doc, path)
		if err != nil {
			return nil, fmt.Errorf("armspec: load %s: %w", rel, err)
		}
		s.ops = append(s.ops, ops...)
	}
	slices.SortFunc(s.ops, func(a, b *operation) int {
		return strings.Compare(a.method+" "+a.template, b.method+" "+b.template)
	})
	return s, nil
}

// loadFile bundles one swagger file and converts it to an OpenAPI 3 document.
func loadFile(root, path string) (*openapi3.T, error) {
	tree, err := bundleFile(root, path)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(tree)
	if err != nil {
		return nil, err
	}
	var doc2 openapi2.T
	if err := json.Unmarshal(data, &doc2); err != nil {
		return nil, fmt.Errorf("parse swagger 2.0: %w", err)
	}
	doc3, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return nil, fmt.Errorf("convert to OpenAPI 3: %w", err)
	}
	return doc3, nil
}

// operations lists the operations of doc, each with the pattern that matches its request paths.
func operations(doc *openapi3.T, file string) ([]*operation, error) {
	var ops []*operation
	for _, template := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(template)
		for method, op := range item.Operations() {
			o := &operation{id: op.OperationID, method: method, template: template, file: file, version: doc.Info.Version,
				route: &routers.Route{Spec: doc, Path: template, PathItem: item, Method: method, Operation: op}}
			if err := o.compile(item, op); err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, template, err)
			}
			ops = append(ops, o)
		}
	}
	return ops, nil
}

var templateParam = regexp.MustCompile(`\{([^{}/]+)\}`)

// compile builds o.pattern from o.template. A path parameter matches one segment, except one marked
// x-ms-skip-url-encoding (ARM's {resourceUri} of extension resources, an Arc machine id such as
// subscriptions/S/resourceGroups/G/providers/Microsoft.HybridCompute/machines/M), which spans segments:
// the reason this package matches paths itself instead of through a kin-openapi router, whose
// patterns stop every parameter at a slash.
func (o *operation) compile(item *openapi3.PathItem, op *openapi3.Operation) error {
	greedy := map[string]bool{}
	for _, params := range []openapi3.Parameters{item.Parameters, op.Parameters} {
		for _, p := range params {
			if p.Value != nil && p.Value.In == openapi3.ParameterInPath && p.Value.Extensions["x-ms-skip-url-encoding"] == true {
				greedy[p.Value.Name] = true
			}
		}
	}
	var re strings.Builder
	re.WriteString("^")
	last := 0
	for _, m := range templateParam.FindAllStringSubmatchIndex(o.template, -1) {
		re.WriteString(regexp.QuoteMeta(o.template[last:m[0]]))
		name := o.template[m[2]:m[3]]
		o.params = append(o.params, name)
		if greedy[name] {
			o.greedy = true
			re.WriteString("(.+?)")
		} else {
			re.WriteString("([^/]+)")
		}
		last = m[1]
	}
	re.WriteString(regexp.QuoteMeta(o.template[last:]) + "$")
	p, err := regexp.Compile(re.String())
	if err != nil {
		return err
	}
	o.pattern = p
	return nil
}

// Operations returns "METHOD template operationId" for every operation, sorted: what the spec serves.
func (s *Spec) Operations() []string {
	out := make([]string, 0, len(s.ops))
	for _, o := range s.ops {
		out = append(out, o.method+" "+o.template+" "+o.id)
	}
	return out
}

// exists reports whether path names a regular file.
func exists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
