package armspec

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Example is one of Microsoft's x-ms-examples: an operation's parameters and the responses it
// answers with, as the example file states them.
type Example struct {
	Name        string // the key in x-ms-examples, such as "GetVirtualMachineInstance"
	File        string // slash path relative to the bundle root
	OperationID string
	Method      string
	Path        string // the operation's path template
	Parameters  map[string]any
	Responses   map[int]ExampleResponse

	// What Request needs to place each parameter.
	greedy   map[string]bool // path parameters spanning segments
	query    []string
	header   []string
	bodyName string
}

// ExampleResponse is one response of an example.
type ExampleResponse struct {
	Header http.Header
	Body   json.RawMessage // nil when the example has none
}

// exampleFile is the layout of an x-ms-examples file.
type exampleFile struct {
	Parameters map[string]any `json:"parameters"`
	Responses  map[string]struct {
		Headers map[string]any  `json:"headers"`
		Body    json.RawMessage `json:"body"`
	} `json:"responses"`
}

// Examples returns every x-ms-example of the spec whose file exists, sorted by operation and name. The
// bundle holds only some of the files the specs name; the missing ones are skipped.
func (s *Spec) Examples() ([]Example, error) {
	var out []Example
	for _, o := range s.ops {
		refs, _ := o.route.Operation.Extensions["x-ms-examples"].(map[string]any)
		for _, name := range sortedKeys(refs) {
			ref, _ := asMap(refs[name])["$ref"].(string)
			path := filepath.Join(filepath.Dir(o.file), filepath.FromSlash(ref))
			if ref == "" || !exists(path) {
				continue
			}
			ex, err := s.readExample(o, name, path)
			if err != nil {
				return nil, err
			}
			out = append(out, ex)
		}
	}
	return out, nil
}

func (s *Spec) readExample(o *operation, name, path string) (Example, error) {
	rel, _ := filepath.Rel(s.root, path)
	ex := Example{Name: name, File: filepath.ToSlash(rel), OperationID: o.id, Method: o.method, Path: o.template,
		Responses: map[int]ExampleResponse{}, greedy: map[string]bool{}}
	data, err := os.ReadFile(path)
	if err != nil {
		return ex, fmt.Errorf("armspec: example %s: %w", ex.File, err)
	}
	var f exampleFile
	if err := json.Unmarshal(data, &f); err != nil {
		return ex, fmt.Errorf("armspec: example %s: %w", ex.File, err)
	}
	ex.Parameters = f.Parameters
	for code, r := range f.Responses {
		status, err := strconv.Atoi(code)
		if err != nil {
			return ex, fmt.Errorf("armspec: example %s: response %q: %w", ex.File, code, err)
		}
		h := http.Header{}
		for k, v := range r.Headers {
			h.Set(k, fmt.Sprint(v))
		}
		if len(r.Body) == 0 || string(r.Body) == "null" {
			r.Body = nil
		}
		ex.Responses[status] = ExampleResponse{Header: h, Body: r.Body}
	}
	ex.place(o)
	return ex, nil
}

// place records where each of o's parameters goes.
func (ex *Example) place(o *operation) {
	for _, params := range []openapi3.Parameters{o.route.PathItem.Parameters, o.route.Operation.Parameters} {
		for _, p := range params {
			switch v := p.Value; v.In {
			case openapi3.ParameterInPath:
				ex.greedy[v.Name] = v.Extensions["x-ms-skip-url-encoding"] == true
			case openapi3.ParameterInQuery:
				ex.query = append(ex.query, v.Name)
			case openapi3.ParameterInHeader:
				ex.header = append(ex.header, v.Name)
			}
		}
	}
	if rb := o.route.Operation.RequestBody; rb != nil && rb.Value != nil {
		ex.bodyName, _ = rb.Value.Extensions["x-originalParamName"].(string)
	}
}

// Statuses returns the example's response statuses, sorted.
func (ex Example) Statuses() []int {
	out := make([]int, 0, len(ex.Responses))
	for s := range ex.Responses {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Body is the example's request body, nil when it has none.
func (ex Example) Body() ([]byte, error) {
	v, ok := ex.Parameters[ex.bodyName]
	if ex.bodyName == "" || !ok {
		return nil, nil
	}
	return json.Marshal(v)
}

// Request builds the example's request against base (such as an httptest server's URL): path
// parameters substituted into the template, query and header parameters set, the body parameter as a
// JSON body, and a placeholder bearer token, because ARM's security scheme requires one. The
// multi-segment {resourceUri} is inserted as is; a leading slash in its value is dropped so that the
// path has no empty segment.
func (ex Example) Request(ctx context.Context, base string) (*http.Request, error) {
	path := templateParam.ReplaceAllStringFunc(ex.Path, func(m string) string {
		name := m[1 : len(m)-1]
		v := fmt.Sprint(ex.Parameters[name])
		if ex.greedy[name] {
			return strings.TrimPrefix(v, "/")
		}
		return url.PathEscape(v)
	})
	q := url.Values{}
	for _, name := range ex.query {
		if v, ok := ex.Parameters[name]; ok {
			q.Set(name, fmt.Sprint(v))
		}
	}
	body, err := ex.Body()
	if err != nil {
		return nil, fmt.Errorf("armspec: example %s: body: %w", ex.Name, err)
	}
	u := strings.TrimSuffix(base, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, ex.Method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("armspec: example %s: %w", ex.Name, err)
	}
	for _, name := range ex.header {
		if v, ok := ex.Parameters[name]; ok {
			req.Header.Set(name, fmt.Sprint(v))
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer example-token")
	return req, nil
}
