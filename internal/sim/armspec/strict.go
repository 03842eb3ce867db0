package armspec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/getkin/kin-openapi/openapi3"
)

// The checks in this file are stricter than OpenAPI, and follow Microsoft's own model validator (oav)
// and ARM's rules, because without them a misspelt property or a leaked secret passes:
//
//   - Unknown properties: OpenAPI lets any object carry members its schema does not declare unless it
//     says additionalProperties: false, which ARM specs never say. ARM models are closed, oav reports
//     undeclared members (OBJECT_ADDITIONAL_PROPERTIES), and Go's SDK drops them silently, so a
//     member the schema (its properties and those of its allOf) does not declare is an error. An
//     object schema that declares no properties at all, or declares additionalProperties, is open.
//   - Secrets: a property marked x-ms-secret is never returned by the service ("the service won't
//     return it in response", AutoRest's x-ms-secret), so a response carrying one is an error.

// side says which way a body travels.
type side int

const (
	inRequest side = iota
	inResponse
)

// strictProblems returns the problems of the JSON body against schema beyond what kin-openapi checks.
// A body that is not JSON is left to kin-openapi, which reports it.
func strictProblems(schema *openapi3.SchemaRef, body []byte, dir side) []string {
	if schema == nil || schema.Value == nil || len(body) == 0 {
		return nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return nil
	}
	var out []string
	walk(schema.Value, v, "", dir, &out)
	return out
}

// walk checks value against s, appending to out, at the JSON pointer ptr.
func walk(s *openapi3.Schema, value any, ptr string, dir side, out *[]string) {
	switch v := value.(type) {
	case []any:
		if s.Items != nil && s.Items.Value != nil {
			for i, e := range v {
				walk(s.Items.Value, e, fmt.Sprintf("%s/%d", ptr, i), dir, out)
			}
		}
	case map[string]any:
		props, extra, open := members(s)
		for _, k := range sortedKeys(v) {
			at := ptr + "/" + k
			p, declared := props[k]
			switch {
			case declared && p.Value != nil:
				if dir == inResponse && p.Value.Extensions["x-ms-secret"] == true {
					*out = append(*out, fmt.Sprintf("at %s: secret property (x-ms-secret) returned in a response", at))
				}
				walk(p.Value, v[k], at, dir, out)
			case extra != nil:
				walk(extra, v[k], at, dir, out)
			case !declared && !open:
				*out = append(*out, fmt.Sprintf("at %s: property %q is not in the schema (declared: %s)", at, k, names(props)))
			}
		}
	}
}

// members merges the properties of s and of its allOf, and says whether s admits undeclared members:
// extra is the schema of additionalProperties when given one, open is true when any member goes.
func members(s *openapi3.Schema) (props map[string]*openapi3.SchemaRef, extra *openapi3.Schema, open bool) {
	props = map[string]*openapi3.SchemaRef{}
	var visit func(*openapi3.Schema)
	visit = func(s *openapi3.Schema) {
		for k, p := range s.Properties {
			props[k] = p
		}
		if ap := s.AdditionalProperties; ap.Schema != nil && ap.Schema.Value != nil {
			extra = ap.Schema.Value
		} else if ap.Has != nil && *ap.Has {
			open = true
		}
		for _, a := range s.AllOf {
			if a.Value != nil {
				visit(a.Value)
			}
		}
	}
	visit(s)
	return props, extra, open || (len(props) == 0 && extra == nil)
}

func names(props map[string]*openapi3.SchemaRef) string {
	out := make([]string, 0, len(props))
	for k := range props {
		out = append(out, k)
	}
	slices.Sort(out)
	b, _ := json.Marshal(out)
	return string(b)
}

// requestSchema is the JSON schema of o's request body, nil when it has none.
func (o *operation) requestSchema() *openapi3.SchemaRef {
	rb := o.route.Operation.RequestBody
	if rb == nil || rb.Value == nil {
		return nil
	}
	if mt := rb.Value.Content.Get("application/json"); mt != nil {
		return mt.Schema
	}
	return nil
}

// responseSchema is the JSON schema of o's response with status, nil when it has none.
func (o *operation) responseSchema(status int) *openapi3.SchemaRef {
	r := o.route.Operation.Responses.Status(status)
	if r == nil {
		r = o.route.Operation.Responses.Default()
	}
	if r == nil || r.Value == nil {
		return nil
	}
	if mt := r.Value.Content.Get("application/json"); mt != nil {
		return mt.Schema
	}
	return nil
}
