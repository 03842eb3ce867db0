package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Limits that keep hostile YAML within bounded time and memory. Real desired
// state is a handful of levels deep and uses few aliases.
const (
	maxDepth       = 100   // nesting of mappings and sequences, aliases included
	maxAliasNodes  = 10000 // nodes produced by expanding aliases, per document
	mergeKey       = "<<"
	mergeTag       = "!!merge"
	maxDocsPerFile = 100000
)

// document is one YAML document of one file, converted to JSON-like values
// (map[string]any, []any, string, int64, float64, bool, nil) for the schema.
type document struct {
	file   string
	index  int        // 0-based position in the file
	node   *yaml.Node // the document's root content node; positions come from here
	value  any
	broken bool // had a YAML-level error: reported, but not used
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseFile splits a source into documents. A syntax error ends the file:
// yaml.v3 cannot resynchronise after one.
func parseFile(src source, diags *Diagnostics) (docs []*document) {
	report := func(rule string, line, col int, msg string) {
		*diags = append(*diags, Diagnostic{Severity: SeverityError, Rule: rule, File: src.name, Line: line, Column: col, Message: msg})
	}
	if line, col, msg, ok := checkEncoding(src.data); !ok {
		report(RuleInvalidEncoding, line, col, msg)
		return nil
	}
	defer func() {
		// yaml.v3 has panicked on hostile input in the past; never let it take the process down.
		if r := recover(); r != nil {
			report(RuleYAMLSyntax, 1, 1, fmt.Sprintf("the YAML parser failed on this file (%v); simplify the file and report this input as a bug", r))
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(src.data))
	sawDoc := false
	for i := 0; i < maxDocsPerFile; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line, col, rule, msg := syntaxError(src.data, err)
			report(rule, line, col, msg)
			return docs
		}
		sawDoc = true
		doc := &document{file: src.name, index: i}
		if len(n.Content) == 0 || isEmptyScalar(n.Content[0]) {
			*diags = append(*diags, Diagnostic{Severity: SeverityWarning, Rule: RuleEmptyDocument, File: src.name, Line: n.Line, Column: n.Column,
				Message: fmt.Sprintf("document %d is empty; remove the extra '---' separator or add a document", i+1)})
			continue
		}
		doc.node = n.Content[0]
		cv := converter{file: src.name, diags: diags}
		v, ok := cv.convert(doc.node, 0)
		if !ok {
			continue // a limit was hit: reported, and the document is unusable
		}
		doc.value, doc.broken = v, cv.broken
		docs = append(docs, doc)
	}
	if !sawDoc {
		*diags = append(*diags, Diagnostic{Severity: SeverityWarning, Rule: RuleEmptyDocument, File: src.name, Line: 1, Column: 1,
			Message: "file holds no YAML document (it is empty or only comments); add a document or delete the file"})
	}
	return docs
}

func isEmptyScalar(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && n.Value == "" && n.Anchor == ""
}

// checkEncoding finds NUL bytes and invalid UTF-8 with their position, which
// yaml.v3 reports without one. UTF-16 files fail here too, on purpose.
func checkEncoding(data []byte) (line, col int, msg string, ok bool) {
	if utf8.Valid(data) && bytes.IndexByte(data, 0) < 0 {
		return 0, 0, "", true // the common case, without decoding rune by rune
	}
	line, col = 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return line, col, fmt.Sprintf("byte 0x%02x is not valid UTF-8; save the file as UTF-8", data[i]), false
		case r == 0:
			return line, col, "NUL byte in the file; YAML must be UTF-8 text, so remove it (is this a binary or UTF-16 file?)", false
		case r == '\n':
			line, col = line+1, 1
		default:
			col++
		}
		i += size
	}
	return 0, 0, "", true
}

// syntaxError turns a yaml.v3 error into a position, a rule and a message that says what to do.
func syntaxError(data []byte, err error) (line, col int, rule, msg string) {
	text := err.Error()
	line, col, rule = 1, 1, RuleYAMLSyntax
	if m := yamlLineRE.FindStringSubmatch(text); m != nil {
		line, _ = strconv.Atoi(m[1])
		text = m[2]
		// yaml.v3 reports parser errors with a 0-based line, scanner errors 1-based.
		if strings.HasPrefix(text, "did not find expected") {
			line++
		}
	} else {
		text = strings.TrimPrefix(text, "yaml: ")
	}
	if strings.HasPrefix(text, "exceeded max depth") {
		return line, 1, RuleYAMLTooDeep, fmt.Sprintf("nesting deeper than the YAML parser allows (%s); flatten the document", text)
	}
	if l := lineText(data, line); l != nil {
		indent := l[:len(l)-len(bytes.TrimLeft(l, " \t"))]
		if t := bytes.IndexByte(indent, '\t'); t >= 0 {
			return line, t + 1, RuleYAMLTabs, "tab character in indentation; YAML allows only spaces there, so indent with spaces"
		}
		col = len(indent) + 1
	}
	return line, col, rule, text + "; fix the YAML syntax at this line (a missing ':', a wrong indent or an unclosed quote or bracket are common causes)"
}

func lineText(data []byte, line int) []byte {
	for i := 1; i < line; i++ {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			return nil
		}
		data = data[nl+1:]
	}
	if nl := bytes.IndexByte(data, '\n'); nl >= 0 {
		data = data[:nl]
	}
	return data
}

// converter turns a node tree into JSON-like values, enforcing the depth and
// alias-expansion limits and reporting duplicate keys.
type converter struct {
	file       string
	diags      *Diagnostics
	path       []string // JSON pointer segments of the node being converted
	aliasDepth int      // >0 while expanding an alias
	aliasNodes int
	broken     bool
}

func (c *converter) errorAt(n *yaml.Node, rule, msg string) {
	*c.diags = append(*c.diags, Diagnostic{Severity: SeverityError, Rule: rule, File: c.file, Line: n.Line, Column: n.Column, Path: pointer(c.path), Message: msg})
}

// convert returns the value of n; ok is false when a limit was hit (then the
// whole document is abandoned, after one diagnostic).
func (c *converter) convert(n *yaml.Node, depth int) (any, bool) {
	if depth > maxDepth {
		c.errorAt(n, RuleYAMLTooDeep, fmt.Sprintf("nesting deeper than %d levels (or an alias that contains itself); flatten the document", maxDepth))
		return nil, false
	}
	if c.aliasDepth > 0 {
		c.aliasNodes++
		if c.aliasNodes > maxAliasNodes {
			c.errorAt(n, RuleYAMLAliasExpansion, fmt.Sprintf("aliases expand to more than %d values (an alias bomb?); write the values out or use fewer aliases", maxAliasNodes))
			return nil, false
		}
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			c.errorAt(n, RuleYAMLSyntax, "alias to an unknown anchor; define the anchor (&name) before using it")
			c.broken = true
			return nil, true
		}
		c.aliasDepth++
		v, ok := c.convert(n.Alias, depth+1)
		c.aliasDepth--
		return v, ok
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, true
		}
		return c.convert(n.Content[0], depth)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			c.path = append(c.path, strconv.Itoa(i))
			v, ok := c.convert(item, depth+1)
			c.path = c.path[:len(c.path)-1]
			if !ok {
				return nil, false
			}
			out = append(out, v)
		}
		return out, true
	case yaml.MappingNode:
		return c.mapping(n, depth)
	default:
		return c.scalar(n), true
	}
}

func (c *converter) mapping(n *yaml.Node, depth int) (any, bool) {
	out := make(map[string]any, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, vn := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == mergeKey && (k.Tag == mergeTag || k.ShortTag() == mergeTag) {
			merges = append(merges, vn)
			continue
		}
		key, ok := c.key(k)
		if !ok {
			continue
		}
		if _, dup := out[key]; dup {
			c.path = append(c.path, key)
			c.errorAt(k, RuleDuplicateKey, fmt.Sprintf("key %q is already defined at line %d; remove one of the two", key, previousKey(n, i, key).Line))
			c.path = c.path[:len(c.path)-1]
			c.broken = true
		}
		c.path = append(c.path, key)
		v, ok := c.convert(vn, depth+1)
		c.path = c.path[:len(c.path)-1]
		if !ok {
			return nil, false
		}
		out[key] = v
	}
	// Merge keys (<<: *base) fill in what the mapping does not set itself.
	for _, m := range merges {
		v, ok := c.convert(m, depth+1)
		if !ok {
			return nil, false
		}
		srcs := []any{v}
		if seq, isSeq := v.([]any); isSeq {
			srcs = seq
		}
		for _, s := range srcs {
			sm, isMap := s.(map[string]any)
			if !isMap {
				c.errorAt(m, RuleYAMLSyntax, "merge key '<<' needs a mapping or a list of mappings; fix the value after '<<'")
				c.broken = true
				continue
			}
			for k, mv := range sm {
				if _, set := out[k]; !set {
					out[k] = mv
				}
			}
		}
	}
	return out, true
}

// previousKey is the last key node before Content[i] of mapping n that
// spells key: the definition a duplicate repeats. Only called for a
// duplicate, so the mapping needs no map of its keys' nodes.
func previousKey(n *yaml.Node, i int, key string) *yaml.Node {
	for j := i - 2; j >= 0; j -= 2 {
		orig, k := n.Content[j], n.Content[j]
		for k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode || k.Value != key {
			continue
		}
		if orig.Kind == yaml.ScalarNode && orig.Value == mergeKey && (orig.Tag == mergeTag || orig.ShortTag() == mergeTag) {
			continue
		}
		return orig // the node the converter saw, alias or not: its line is the one cited
	}
	return n.Content[i]
}

// key returns a mapping key as a string; only scalar keys make sense in JSON.
func (c *converter) key(k *yaml.Node) (string, bool) {
	for k.Kind == yaml.AliasNode && k.Alias != nil {
		k = k.Alias
	}
	if k.Kind != yaml.ScalarNode {
		c.errorAt(k, RuleYAMLSyntax, "mapping key is not a plain value (a list or mapping used as a key); use a string key")
		c.broken = true
		return "", false
	}
	return k.Value, true
}

// scalar resolves a scalar like yaml.v3 does, keeping timestamps, binary and
// non-finite numbers as their text so values stay JSON-representable.
func (c *converter) scalar(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		switch n.Value {
		case "true":
			return true
		case "false":
			return false
		}
		var b bool
		if err := n.Decode(&b); err == nil {
			return b
		}
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			return i
		}
		var v any
		if err := n.Decode(&v); err == nil {
			switch x := v.(type) {
			case int:
				return int64(x)
			case int64:
				return x
			case uint64:
				if x <= math.MaxInt64 {
					return int64(x)
				}
				return float64(x)
			case float64:
				return x
			}
		}
	case "!!float":
		if f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f
		}
	}
	return n.Value
}

// pointer renders JSON pointer segments (RFC 6901 escaping).
func pointer(segs []string) string {
	if len(segs) == 0 {
		return ""
	}
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// splitPointer is the inverse of pointer.
func splitPointer(p string) []string {
	if p == "" || p == "/" {
		return nil
	}
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return segs
}

// locate finds the key and value nodes at a JSON pointer below root. When the
// pointer leads nowhere (a missing field), it returns the deepest node found;
// found is false then. It follows aliases and merge keys, with bounded work.
func locate(root *yaml.Node, ptr string) (key, val *yaml.Node, found bool) {
	val = root
	if ptr == "" || ptr == "/" {
		return key, val, true
	}
	// the segments of splitPointer, one at a time: the loader locates every
	// cited pointer of every document, so this allocates only to unescape
	rest := strings.TrimPrefix(ptr, "/")
	for more := true; more; {
		var seg string
		seg, rest, more = strings.Cut(rest, "/")
		if strings.Contains(seg, "~") {
			seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		}
		k, v := child(val, seg, 0)
		if v == nil {
			return key, val, false
		}
		key, val = k, v
	}
	return key, val, true
}

func child(n *yaml.Node, seg string, depth int) (key, val *yaml.Node) {
	if depth > 8 {
		return nil, nil
	}
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
		depth++
		if depth > 8 {
			return nil, nil
		}
	}
	if n == nil {
		return nil, nil
	}
	switch n.Kind {
	case yaml.SequenceNode:
		i, err := strconv.Atoi(seg)
		if err != nil || i < 0 || i >= len(n.Content) {
			return nil, nil
		}
		return nil, n.Content[i]
	case yaml.MappingNode:
		// the last definition wins, like the converter
		for i := len(n.Content) - 2; i >= 0; i -= 2 {
			if n.Content[i].Kind == yaml.ScalarNode && n.Content[i].Value == seg && n.Content[i].Value != mergeKey {
				return n.Content[i], n.Content[i+1]
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == mergeKey {
				if k, v := child(n.Content[i+1], seg, depth+1); v != nil {
					return k, v
				}
			}
		}
	}
	return nil, nil
}
