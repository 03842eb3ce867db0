package armspec

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Deviation: stableCommon, which the stable 2024-01-01 StackHCIVM files reference as ./common.json for
// ExtendedLocation, is not in the bundle (upstream it sits beside them); previewCommon, the preview's
// copy, is, and defines the same ExtendedLocation (README of the bundle, "Known gaps"). References to
// the one are read from the other. Slash paths relative to the bundle root.
const (
	stableCommon  = stackHCIVMDir + "/common.json"
	previewCommon = "specification/azurestackhci/resource-manager/Microsoft.AzureStackHCI/StackHCIVM/preview/2024-02-01-preview/common.json"
)

// refKey names one definition or parameter of one file: the unit the bundler copies.
type refKey struct {
	file    string // absolute path
	section string // "definitions", "parameters" or "responses"
	name    string
}

// bundler turns one swagger file and the files it references into one self-contained swagger document
// whose every $ref is local, because kin-openapi's swagger 2.0 converter resolves only local
// references. Definitions from other files are copied into the document under their own name, or
// under name_file when the document already uses that name for something else.
type bundler struct {
	root  string
	main  string
	doc   map[string]any
	files map[string]map[string]any
	local map[refKey]string // copied definition → its name in doc
	taken map[string]map[string]bool
}

// bundleFile reads the swagger file at path (under root) and returns it with every external reference
// copied in.
func bundleFile(root, path string) (map[string]any, error) {
	b := &bundler{root: root, main: path, files: map[string]map[string]any{},
		local: map[refKey]string{}, taken: map[string]map[string]bool{}}
	doc, err := b.read(path)
	if err != nil {
		return nil, err
	}
	b.doc = doc
	for _, section := range []string{"definitions", "parameters", "responses"} {
		b.taken[section] = map[string]bool{}
		for name := range asMap(doc[section]) {
			b.taken[section][name] = true
			b.local[refKey{path, section, name}] = name
		}
	}
	if err := b.rewrite(doc, path); err != nil {
		return nil, fmt.Errorf("%s: %w", b.rel(path), err)
	}
	return doc, nil
}

func (b *bundler) rel(path string) string {
	if r, err := filepath.Rel(b.root, path); err == nil {
		return filepath.ToSlash(r)
	}
	return path
}

// read parses the JSON file at path once; later calls share the tree, which rewrite edits in place only
// for the main file (copies of other files' definitions are deep-copied first).
func (b *bundler) read(path string) (map[string]any, error) {
	if doc, ok := b.files[path]; ok {
		return doc, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", b.rel(path), err)
	}
	b.files[path] = doc
	return doc, nil
}

// rewrite walks node, which came from file, and makes every $ref in it local to the bundled document,
// in a fixed key order so that the names chosen for copies never depend on map order. x-ms-examples
// hold references to example files, not to schemas: they are left alone (Examples reads them).
func (b *bundler) rewrite(node any, file string) error {
	switch n := node.(type) {
	case map[string]any:
		if ref, ok := n["$ref"].(string); ok {
			local, err := b.localRef(ref, file)
			if err != nil {
				return err
			}
			n["$ref"] = local
		}
		for _, k := range sortedKeys(n) {
			if k == "x-ms-examples" {
				continue
			}
			if err := b.rewrite(n[k], file); err != nil {
				return err
			}
		}
	case []any:
		for _, v := range n {
			if err := b.rewrite(v, file); err != nil {
				return err
			}
		}
	}
	return nil
}

// localRef returns the local form of ref found in file, copying what it names into the document.
func (b *bundler) localRef(ref, file string) (string, error) {
	target, frag, _ := strings.Cut(ref, "#")
	parts := strings.Split(strings.TrimPrefix(frag, "/"), "/")
	if len(parts) != 2 {
		return "", fmt.Errorf("$ref %q: only #/definitions/X, #/parameters/X and #/responses/X are supported", ref)
	}
	path := file
	if target != "" {
		path = b.redirect(filepath.Join(filepath.Dir(file), filepath.FromSlash(target)))
	}
	key := refKey{path, parts[0], parts[1]}
	if name, ok := b.local[key]; ok {
		return "#/" + key.section + "/" + name, nil
	}
	name, err := b.copyIn(key)
	if err != nil {
		return "", fmt.Errorf("$ref %q: %w", ref, err)
	}
	return "#/" + key.section + "/" + name, nil
}

// redirect maps a reference to stableCommon to previewCommon, and leaves every other path alone.
func (b *bundler) redirect(path string) string {
	if b.rel(path) == stableCommon {
		return filepath.Join(b.root, filepath.FromSlash(previewCommon))
	}
	return path
}

// copyIn deep-copies the definition key names into the document, rewriting its own references
// relative to the file it came from, and returns its name there. The name is reserved before the copy
// is walked so that recursive definitions terminate.
func (b *bundler) copyIn(key refKey) (string, error) {
	doc, err := b.read(key.file)
	if err != nil {
		return "", err
	}
	src, ok := asMap(doc[key.section])[key.name]
	if !ok {
		return "", fmt.Errorf("%s has no %s/%s", b.rel(key.file), key.section, key.name)
	}
	name := key.name
	if b.taken[key.section][name] {
		name = key.name + "_" + fileTag(b.rel(key.file))
	}
	if b.taken[key.section][name] {
		return "", fmt.Errorf("two definitions want the name %s/%s", key.section, name)
	}
	b.taken[key.section][name] = true
	b.local[key] = name
	cp := deepCopy(src)
	if err := b.rewrite(cp, key.file); err != nil {
		return "", err
	}
	section := asMap(b.doc[key.section])
	if section == nil {
		section = map[string]any{}
		b.doc[key.section] = section
	}
	section[name] = cp
	return name, nil
}

// fileTag is a short, stable, identifier-safe tag for a referenced file, such as
// "resource_management_v3_types" for common-types/resource-management/v3/types.json.
func fileTag(rel string) string {
	rel = strings.TrimSuffix(rel, ".json")
	parts := strings.Split(rel, "/")
	if len(parts) > 3 {
		parts = parts[len(parts)-3:]
	}
	return strings.NewReplacer("-", "_", ".", "_").Replace(strings.Join(parts, "_"))
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func deepCopy(v any) any {
	switch n := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(n))
		for k, e := range n {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(n))
		for i, e := range n {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}
