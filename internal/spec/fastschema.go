package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// fastSchema answers one question of a kind's definition, is this value
// valid, without allocating: jsonschema/v5 allocates scopes, closures, a map
// of every object's keys and strings for locations at every value, which was
// a third of validate's time at 10,000 VMs. It knows only the keywords the
// schema uses (compileFast refuses any other, and the validator then uses
// jsonschema/v5 alone) and mirrors jsonschema/v5 for each of them. It is an
// accelerator, never the authority: a value it rejects is checked again by
// jsonschema/v5, whose answer and diagnostics stand, so a disagreement can
// only cost time in one direction; the other direction (it accepts what the
// schema rejects) is what fastschema_test.go hunts for, value by value
// against jsonschema/v5.
type fastSchema struct {
	types            []string // JSON types; "integer" as in the schema
	constant         []any    // one value when "const" is set
	enum             []any
	required         []string
	properties       map[string]*fastSchema
	additional       *fastSchema // additionalProperties as a schema
	noAdditional     bool        // additionalProperties: false
	minProps         int
	maxProps         int
	minLen, maxLen   int
	pattern          *regexp.Regexp
	minimum, maximum *big.Rat
	items            *fastSchema
	minItems         int
	uniqueItems      bool
	allOf, anyOf     []*fastSchema
	not              *fastSchema
	ifS, thenS       *fastSchema
	elseS            *fastSchema
	ref              string // "#/$defs/NAME", resolved through refs at check time
	refs             map[string]*fastSchema
}

// fastAnnotations never change whether a value is valid.
var fastAnnotations = []string{"description", "title", "default", "examples", "$comment", "deprecated", "readOnly", "writeOnly"}

// compileFast compiles $defs/NAME of the schema source for each name; it
// fails on any keyword fastSchema does not implement.
func compileFast(src []byte, names []string) (map[string]*fastSchema, error) {
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber() // numbers as jsonschema/v5 reads them
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return nil, err
	}
	defs, _ := root["$defs"].(map[string]any)
	refs := map[string]*fastSchema{}
	for name, d := range defs {
		s, err := compileFastNode(d, refs)
		if err != nil {
			return nil, fmt.Errorf("$defs/%s: %w", name, err)
		}
		refs["#/$defs/"+name] = s
	}
	out := map[string]*fastSchema{}
	for _, n := range names {
		if s := refs["#/$defs/"+n]; s != nil {
			out[n] = s
		}
	}
	return out, nil
}

func compileFastNode(n any, refs map[string]*fastSchema) (*fastSchema, error) {
	m, ok := n.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schema %v is not an object", n)
	}
	s := &fastSchema{refs: refs, minProps: -1, maxProps: -1, minLen: -1, maxLen: -1, minItems: -1}
	for k, v := range m {
		if slices.Contains(fastAnnotations, k) {
			continue
		}
		if err := s.keyword(k, v); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	return s, nil
}

// keyword compiles one keyword of a schema object: those holding schemas
// here, the others in valueKeyword.
func (s *fastSchema) keyword(k string, v any) (err error) {
	sub := func(v any) *fastSchema {
		var c *fastSchema
		if err == nil {
			c, err = compileFastNode(v, s.refs)
		}
		return c
	}
	switch k {
	case "properties":
		props, _ := v.(map[string]any)
		s.properties = map[string]*fastSchema{}
		for name, p := range props {
			s.properties[name] = sub(p)
		}
	case "additionalProperties":
		if b, isBool := v.(bool); isBool {
			s.noAdditional = !b
		} else {
			s.additional = sub(v)
		}
	case "items":
		s.items = sub(v)
	case "allOf", "anyOf":
		list, _ := v.([]any)
		for _, item := range list {
			if k == "allOf" {
				s.allOf = append(s.allOf, sub(item))
			} else {
				s.anyOf = append(s.anyOf, sub(item))
			}
		}
	case "not":
		s.not = sub(v)
	case "if":
		s.ifS = sub(v)
	case "then":
		s.thenS = sub(v)
	case "else":
		s.elseS = sub(v)
	default:
		return s.valueKeyword(k, v)
	}
	return err
}

// valueKeyword compiles a keyword that holds a value, not a schema.
func (s *fastSchema) valueKeyword(k string, v any) (err error) {
	switch k {
	case "type":
		s.types, err = stringList(v)
	case "const":
		s.constant = []any{v}
	case "enum":
		s.enum, _ = v.([]any)
	case "required":
		s.required, err = stringList(v)
	case "minProperties", "maxProperties", "minLength", "maxLength", "minItems":
		err = s.count(k, v)
	case "pattern":
		str, _ := v.(string)
		s.pattern, err = regexp.Compile(str)
	case "minimum", "maximum":
		r, ok := new(big.Rat).SetString(fmt.Sprint(v))
		if !ok {
			return fmt.Errorf("%v is not a number", v)
		}
		if k == "minimum" {
			s.minimum = r
		} else {
			s.maximum = r
		}
	case "uniqueItems":
		s.uniqueItems, _ = v.(bool)
	case "$ref":
		ref, _ := v.(string)
		if !strings.HasPrefix(ref, "#/$defs/") || strings.ContainsAny(ref[len("#/$defs/"):], "/~%") {
			return fmt.Errorf("%q is not a local definition", ref)
		}
		s.ref = ref
	default:
		return fmt.Errorf("keyword not implemented by the fast check")
	}
	return err
}

func (s *fastSchema) count(k string, v any) error {
	n, isNum := v.(json.Number)
	i, err := n.Int64()
	if !isNum || err != nil || i < 0 {
		return fmt.Errorf("%v is not a count", v)
	}
	switch k {
	case "minProperties":
		s.minProps = int(i)
	case "maxProperties":
		s.maxProps = int(i)
	case "minLength":
		s.minLen = int(i)
	case "maxLength":
		s.maxLen = int(i)
	case "minItems":
		s.minItems = int(i)
	}
	return nil
}

func stringList(v any) ([]string, error) {
	if str, ok := v.(string); ok {
		return []string{str}, nil
	}
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, item := range list {
		str, ok := item.(string)
		if !ok {
			return nil, fmt.Errorf("%v is not a list of strings", v)
		}
		out = append(out, str)
	}
	return out, nil
}

// maxFastDepth bounds the schema objects one check walks down (values are
// at most maxDepth deep; a $ref cycle would be unbounded): past it the
// fast check gives up, which sends the value to jsonschema/v5.
const maxFastDepth = 4 * maxDepth

// valid reports whether v (a converter value) passes s; false also means
// "not sure".
func (s *fastSchema) valid(v any, depth int) bool {
	if depth > maxFastDepth {
		return false
	}
	if s.ref != "" {
		r := s.refs[s.ref]
		if r == nil || !r.valid(v, depth+1) {
			return false
		}
	}
	if len(s.types) > 0 && !s.typeOK(v) {
		return false
	}
	if len(s.constant) > 0 && !jsonEqual(v, s.constant[0]) {
		return false
	}
	if len(s.enum) > 0 && !slices.ContainsFunc(s.enum, func(e any) bool { return jsonEqual(v, e) }) {
		return false
	}
	ok := true
	switch x := v.(type) {
	case map[string]any:
		ok = s.objectOK(x, depth)
	case []any:
		ok = s.arrayOK(x, depth)
	case string:
		ok = s.stringOK(x)
	case int64, float64:
		ok = s.numberOK(v)
	case nil, bool:
	default:
		return false // not a converter value: let jsonschema/v5 say what it is
	}
	return ok && s.combinatorsOK(v, depth)
}

// jsonType is jsonschema/v5's name for the type of a converter value.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case int64, float64, json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return ""
}

func (s *fastSchema) typeOK(v any) bool {
	t := jsonType(v)
	for _, want := range s.types {
		if want == t {
			return true
		}
		if want == "integer" && t == "number" {
			if _, isInt := v.(int64); isInt || numRat(v).IsInt() {
				return true
			}
		}
	}
	return false
}

// numRat is a number as jsonschema/v5 compares it: the rational of its text.
func numRat(v any) *big.Rat {
	r, ok := new(big.Rat).SetString(fmt.Sprint(v))
	if !ok {
		return new(big.Rat)
	}
	return r
}

func (s *fastSchema) numberOK(v any) bool {
	below := func(a any, bound *big.Rat) int { // sign of a - bound
		if i, isInt := a.(int64); isInt && bound.IsInt() && bound.Num().IsInt64() {
			b := bound.Num().Int64()
			switch {
			case i < b:
				return -1
			case i > b:
				return 1
			}
			return 0
		}
		return numRat(a).Cmp(bound)
	}
	if s.minimum != nil && below(v, s.minimum) < 0 {
		return false
	}
	return s.maximum == nil || below(v, s.maximum) <= 0
}

func (s *fastSchema) stringOK(v string) bool {
	if s.minLen >= 0 || s.maxLen >= 0 {
		n := utf8.RuneCountInString(v)
		if (s.minLen >= 0 && n < s.minLen) || (s.maxLen >= 0 && n > s.maxLen) {
			return false
		}
	}
	return s.pattern == nil || s.pattern.MatchString(v)
}

func (s *fastSchema) objectOK(v map[string]any, depth int) bool {
	if (s.minProps >= 0 && len(v) < s.minProps) || (s.maxProps >= 0 && len(v) > s.maxProps) {
		return false
	}
	for _, r := range s.required {
		if _, ok := v[r]; !ok {
			return false
		}
	}
	for name, pv := range v {
		if p, known := s.properties[name]; known {
			if !p.valid(pv, depth+1) {
				return false
			}
			continue
		}
		if s.noAdditional || (s.additional != nil && !s.additional.valid(pv, depth+1)) {
			return false
		}
	}
	return true
}

func (s *fastSchema) arrayOK(v []any, depth int) bool {
	if s.minItems >= 0 && len(v) < s.minItems {
		return false
	}
	for i, item := range v {
		if s.items != nil && !s.items.valid(item, depth+1) {
			return false
		}
		if s.uniqueItems && slices.ContainsFunc(v[:i], func(prev any) bool { return jsonEqual(prev, item) }) {
			return false
		}
	}
	return true
}

func (s *fastSchema) combinatorsOK(v any, depth int) bool {
	for _, a := range s.allOf {
		if !a.valid(v, depth+1) {
			return false
		}
	}
	if len(s.anyOf) > 0 && !slices.ContainsFunc(s.anyOf, func(a *fastSchema) bool { return a.valid(v, depth+1) }) {
		return false
	}
	if s.not != nil && s.not.valid(v, depth+1) {
		return false
	}
	if s.ifS != nil {
		if s.ifS.valid(v, depth+1) {
			return s.thenS == nil || s.thenS.valid(v, depth+1)
		}
		return s.elseS == nil || s.elseS.valid(v, depth+1)
	}
	return true
}

// jsonEqual is jsonschema/v5's equality of JSON values (numbers by value).
func jsonEqual(a, b any) bool {
	ta := jsonType(a)
	if ta != jsonType(b) {
		return false
	}
	switch ta {
	case "string":
		return a.(string) == b.(string)
	case "boolean":
		return a.(bool) == b.(bool)
	case "null":
		return true
	case "number":
		return numRat(a).Cmp(numRat(b)) == 0
	case "array":
		x, y := a.([]any), b.([]any)
		return len(x) == len(y) && arraysEqual(x, y)
	case "object":
		x, y := a.(map[string]any), b.(map[string]any)
		if len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !jsonEqual(xv, yv) {
				return false
			}
		}
		return true
	}
	return false
}

func arraysEqual(x, y []any) bool {
	for i := range x {
		if !jsonEqual(x[i], y[i]) {
			return false
		}
	}
	return true
}
