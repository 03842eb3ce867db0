package schema

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"
)

//go:embed tlreconcile.schema.json catalog.yaml
var files embed.FS

// Combined file names inside this directory, also the paths that examples'
// `# yaml-language-server: $schema=` lines point at.
const (
	FileName        = "tlreconcile.schema.json"
	CatalogFileName = "catalog.yaml"
)

// ID is the $id of the combined schema; per-kind schemas append "#/$defs/KIND".
const ID = "https://github.com/tlreconcile/tlreconcile/schema/tlreconcile.schema.json"

// Kinds lists the document kinds the schema defines, in documentation order.
func Kinds() []string { return []string{"Cluster", "TrustedLaunchVM", "ImageCatalog"} }

// JSON returns the combined schema: one document that dispatches on `kind`.
func JSON() []byte { return mustRead(FileName) }

// Catalog returns the built-in image catalog, an ImageCatalog YAML document.
func Catalog() []byte { return mustRead(CatalogFileName) }

// Kind returns a standalone schema for one kind: the combined $defs with a
// root that refers to that kind, so an editor can pin a file to one kind.
func Kind(kind string) ([]byte, error) {
	known := false
	for _, k := range Kinds() {
		known = known || k == kind
	}
	if !known {
		return nil, fmt.Errorf("schema kind %q: unknown; use one of %s", kind, strings.Join(Kinds(), ", "))
	}
	var combined struct {
		Defs map[string]json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(JSON(), &combined); err != nil {
		return nil, fmt.Errorf("schema: embedded schema is not JSON: %w", err)
	}
	doc := struct {
		Schema string                     `json:"$schema"`
		ID     string                     `json:"$id"`
		Title  string                     `json:"title"`
		Ref    string                     `json:"$ref"`
		Defs   map[string]json.RawMessage `json:"$defs"`
	}{
		Schema: "https://json-schema.org/draft/2020-12/schema",
		ID:     strings.TrimSuffix(ID, ".schema.json") + "." + strings.ToLower(kind) + ".schema.json",
		Title:  "tlreconcile " + kind,
		Ref:    "#/$defs/" + kind,
		Defs:   combined.Defs,
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("schema kind %q: %w", kind, err)
	}
	return append(out, '\n'), nil
}

// mustRead reads an embedded file; the names are fixed at compile time, so a
// failure is a build defect, not a user error.
func mustRead(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		panic("schema: embedded file missing: " + name)
	}
	return b
}
