package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"
	"gopkg.in/yaml.v3"

	"github.com/tlreconcile/tlreconcile/schema"
)

// validator checks documents against the embedded schema and turns schema
// errors into diagnostics at the offending node.
type validator struct {
	compiled *jsonschema.Schema
	// byKind is each kind's own definition ($defs/KIND), compiled from the same
	// resource. For a document whose kind is KIND, the whole schema holds
	// exactly when $defs/KIND does (the definition requires and checks
	// apiVersion and kind itself; the root's allOf only dispatches on kind),
	// so a valid document is checked once, without the root's three if
	// branches. An invalid one is checked again against the whole schema,
	// so its diagnostics are those the whole schema gives.
	byKind map[string]*jsonschema.Schema
	// fast is each kind's definition as a fastSchema: a document it accepts
	// is valid without asking jsonschema/v5; one it rejects is checked by
	// byKind as before. Empty when the schema uses a keyword fastSchema
	// does not implement (TestFastSchemaCompiles notices).
	fast map[string]*fastSchema
	raw  map[string]any // the schema as data, to list a mapping's known fields
}

func newValidator() (*validator, error) {
	src := schema.JSON()
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource(schema.ID, bytes.NewReader(src)); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	compiled, err := c.Compile(schema.ID)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(src, &raw); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	byKind := map[string]*jsonschema.Schema{}
	for _, kind := range []Kind{KindCluster, KindTrustedLaunchVM, KindImageCatalog} {
		s, err := c.Compile(schema.ID + "#/$defs/" + string(kind))
		if err != nil {
			return nil, fmt.Errorf("schema: %s: %w", kind, err)
		}
		byKind[string(kind)] = s
	}
	fast, err := compileFast(src, []string{string(KindCluster), string(KindTrustedLaunchVM), string(KindImageCatalog)})
	if err != nil {
		fast = nil // every document goes to jsonschema/v5: slower, same answers
	}
	return &validator{compiled: compiled, byKind: byKind, fast: fast, raw: raw}, nil
}

// valid reports whether value passes the whole schema, checking only its
// kind's definition when the kind is known (see byKind).
func (v *validator) valid(value any) bool {
	if m, ok := value.(map[string]any); ok {
		if kind, ok := m["kind"].(string); ok {
			if f := v.fast[kind]; f != nil && f.valid(value, 0) {
				return true
			}
			if s := v.byKind[kind]; s != nil {
				return s.Validate(value) == nil
			}
		}
	}
	return v.compiled.Validate(value) == nil
}

// validate reports every schema error of doc; it returns false if there was any.
func (v *validator) validate(doc *document, diags *Diagnostics) bool {
	if v.valid(doc.value) {
		return true
	}
	err := v.compiled.Validate(doc.value)
	if err == nil {
		return true
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		*diags = append(*diags, Diagnostic{Severity: SeverityError, Rule: RuleSchema, File: doc.file, Line: doc.node.Line, Column: doc.node.Column,
			Message: fmt.Sprintf("document cannot be checked against the schema: %v; report this as a bug", err)})
		return false
	}
	for _, leaf := range leaves(ve, nil) {
		*diags = append(*diags, v.diagnostics(doc, leaf)...)
	}
	return false
}

// leaves collects the errors that have no causes: the precise ones. Wrappers
// such as "if-then failed" carry no information of their own.
func leaves(ve *jsonschema.ValidationError, out []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return append(out, ve)
	}
	for _, c := range ve.Causes {
		out = leaves(c, out)
	}
	return out
}

var quotedRE = regexp.MustCompile(`'([^']*)'`)

func keyword(ve *jsonschema.ValidationError) string {
	loc := ve.KeywordLocation
	return loc[strings.LastIndexByte(loc, '/')+1:]
}

// diagnostics maps one leaf error to diagnostics with a rule id, a position and a next step.
func (v *validator) diagnostics(doc *document, ve *jsonschema.ValidationError) []Diagnostic {
	ptr := ve.InstanceLocation
	field := dotted(ptr)
	kw := keyword(ve)
	keyNode, valNode, _ := locate(doc.node, ptr)
	at := func(n *yaml.Node, path, rule, msg string) Diagnostic {
		return Diagnostic{Severity: SeverityError, Rule: rule, File: doc.file, Line: n.Line, Column: n.Column, Path: path, Message: msg}
	}
	got := scalarText(valNode)
	if strings.HasSuffix(ptr, "/adminPassword") || strings.HasSuffix(ptr, "/guestCredential/password") || strings.HasSuffix(ptr, "/fromEnv") || strings.HasSuffix(ptr, "/fromFile") {
		return []Diagnostic{secretDiagnostic(at(valNode, ptr, RuleSecretInYAML, ""), field, kw)}
	}
	if kw == "pattern" && strings.Contains(ptr, "/attestation/acceptBoot/") {
		return []Diagnostic{at(valNode, ptr, RuleSchema, fmt.Sprintf("%s: %s is not a boot digest; write the 12 hex digits a boot-integrity-violation finding names (e.g. 61e79ca0acd7)", field, got))}
	}
	if kw == "pattern" && strings.HasSuffix(ptr, "/ipAddress") {
		return []Diagnostic{at(valNode, ptr, RuleSchema, fmt.Sprintf("%s: %s is not an IPv4 address; write four numbers 0-255, e.g. 10.0.0.5", field, got))}
	}
	switch kw {
	case "additionalProperties":
		known := v.knownFields(ve.AbsoluteKeywordLocation)
		var out []Diagnostic
		for _, name := range unknownKeys(doc.value, ptr, known) {
			p := ptr + "/" + pointer([]string{name})[1:]
			k, _, found := locate(doc.node, p)
			n := valNode
			if found && k != nil {
				n = k
			}
			msg := fmt.Sprintf("unknown field %q in %s; remove it or fix its spelling", name, orDocument(field))
			if s := nearest(name, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			if len(known) > 0 {
				msg += "; known fields: " + strings.Join(known, ", ")
			}
			out = append(out, at(n, p, RuleUnknownField, msg))
		}
		return out
	case "required":
		n := valNode
		if keyNode != nil {
			n = keyNode
		}
		var missing []string
		for _, m := range quotedRE.FindAllStringSubmatch(ve.Message, -1) {
			missing = append(missing, m[1])
		}
		return []Diagnostic{at(n, ptr, RuleSchema, fmt.Sprintf("%s is missing required field(s) %s; add them (see `tlreconcile schema`)", orDocument(field), strings.Join(missing, ", ")))}
	case "type":
		return []Diagnostic{at(valNode, ptr, RuleSchema, fmt.Sprintf("%s: %s; %s", fieldOr(field), ve.Message, typeHint(ve.Message)))}
	case "enum", "const":
		return []Diagnostic{at(valNode, ptr, RuleSchema, fmt.Sprintf("%s: %s is not allowed, %s; use one of the allowed values", fieldOr(field), got, ve.Message))}
	case "pattern", "minLength", "maxLength":
		if isNamePath(ptr) {
			return []Diagnostic{at(valNode, ptr, RuleInvalidName, fmt.Sprintf("%s: %s is not a valid name; use 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit", field, got))}
		}
	case "minimum", "maximum":
		switch ptr {
		case "/spec/processors":
			return []Diagnostic{at(valNode, ptr, RuleProcessorsRange, fmt.Sprintf("spec.processors: %s is out of range; use 1 to 240 virtual processors", valNode.Value))}
		case "/spec/memoryMB":
			return []Diagnostic{at(valNode, ptr, RuleMemoryRange, fmt.Sprintf("spec.memoryMB: %s is out of range; use 512 to 12582912 MiB", valNode.Value))}
		}
	}
	return []Diagnostic{at(valNode, ptr, RuleSchema, fmt.Sprintf("%s: %s; change the value to match the schema (see `tlreconcile schema`)", fieldOr(field), ve.Message))}
}

// unknownKeys are the keys of the mapping at ptr in the document's value that
// known does not list, sorted. They come from the data, not from the schema
// library's message: that message quotes and escapes each name, so a key
// with a control character, a quote or a backslash would be escaped a second
// time in our message and would not be found in the YAML to place the
// diagnostic on its line.
func unknownKeys(value any, ptr string, known []string) []string {
	for _, seg := range splitPointer(ptr) {
		switch v := value.(type) {
		case map[string]any:
			value = v[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(v) {
				return nil
			}
			value = v[i]
		default:
			return nil
		}
	}
	m, _ := value.(map[string]any)
	var out []string
	for k := range m {
		if !slices.Contains(known, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// knownFields lists the properties of the schema object whose
// additionalProperties keyword failed (absolute location ".../additionalProperties").
func (v *validator) knownFields(absLoc string) []string {
	_, frag, ok := strings.Cut(absLoc, "#")
	if !ok {
		return nil
	}
	segs := splitPointer(frag)
	if len(segs) == 0 {
		return nil
	}
	var cur any = v.raw
	for _, s := range segs[:len(segs)-1] {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[s]
	}
	m, _ := cur.(map[string]any)
	props, _ := m["properties"].(map[string]any)
	out := make([]string, 0, len(props))
	for k := range props {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func isNamePath(ptr string) bool {
	switch ptr {
	case "/metadata/name", "/metadata/cluster", "/spec/placement/node":
		return true
	}
	return strings.HasPrefix(ptr, "/spec/nodes/")
}

func typeHint(msg string) string {
	switch {
	case strings.Contains(msg, "expected object"):
		return "write a mapping (key: value lines) here"
	case strings.Contains(msg, "expected array"):
		return "write a list ([a, b] or '- ' items) here"
	case strings.Contains(msg, "expected string"):
		return "write a string here (quote it if it looks like a number or boolean)"
	case strings.Contains(msg, "expected integer"):
		return "write a whole number without quotes"
	case strings.Contains(msg, "expected boolean"):
		return "write true or false without quotes"
	}
	return "change the value's type"
}

// dotted renders a JSON pointer as a field path people read: /spec/nodes/0 -> spec.nodes[0].
func dotted(ptr string) string {
	var b strings.Builder
	for _, s := range splitPointer(ptr) {
		if s != "" && strings.Trim(s, "0123456789") == "" {
			b.WriteString("[" + s + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

func orDocument(field string) string {
	if field == "" {
		return "the document"
	}
	return field
}

func fieldOr(field string) string {
	if field == "" {
		return "document"
	}
	return field
}

// scalarText quotes a scalar's text for a message; non-scalars are described.
func scalarText(n *yaml.Node) string {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch {
	case n == nil:
		return "the value"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	}
	s := n.Value
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// nearest returns the candidate closest to s by edit distance, if it is close.
func nearest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= max(2, len(s)/3) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	if len(a) > 256 || len(b) > 256 {
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// secretDiagnostic explains a malformed secret reference without ever
// quoting the value (it may be the secret itself).
func secretDiagnostic(d Diagnostic, field, kw string) Diagnostic {
	switch kw {
	case "type":
		d.Message = fmt.Sprintf("%s: a secret never goes in the YAML (it would end up in Git, plans and logs); write a reference instead: {fromEnv: VARIABLE} or {fromFile: PATH}", field)
	case "minProperties", "maxProperties", "additionalProperties":
		d.Message = fmt.Sprintf("%s: give exactly one of fromEnv (an environment variable) or fromFile (a file path)", field)
	default:
		d.Rule = RuleSchema
		d.Message = fmt.Sprintf("%s: not a valid reference: fromEnv is a variable name (letters, digits, _), fromFile a path", field)
	}
	return d
}
