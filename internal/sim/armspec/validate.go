package armspec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// ErrNoOperation is wrapped by the error of a request or response whose method and path match no
// operation of the spec.
var ErrNoOperation = errors.New("no operation in the spec matches")

// Violation is what ValidateRequest and ValidateResponse return when a request or response breaks
// the spec: the operation it was checked against and every problem found.
type Violation struct {
	OperationID string
	Method      string // of the request
	Path        string // of the request, as sent
	Template    string // the operation's path template
	Status      int    // of the response; 0 for a request
	Problems    []string
	Err         error // kin-openapi's error
}

func (v *Violation) Error() string {
	what := "request"
	if v.Status != 0 {
		what = fmt.Sprintf("response %d", v.Status)
	}
	return fmt.Sprintf("%s %s (%s, %s): %s breaks the spec: %s",
		v.Method, v.Path, v.OperationID, v.Template, what, strings.Join(v.Problems, "; "))
}

func (v *Violation) Unwrap() error { return v.Err }

// options are the validation options of every check. Deviations from kin-openapi's defaults, all
// stricter: every problem is reported (MultiError), and a response status that the operation does not
// declare fails (IncludeResponseStatus; ARM operations all declare "default", so in practice an error
// status must carry ARM's ErrorResponse body).
func options() *openapi3filter.Options {
	return &openapi3filter.Options{
		MultiError:            true,
		IncludeResponseStatus: true,
		AuthenticationFunc:    bearerPresent,
	}
}

// bearerPresent is the check of ARM's azure_auth (OAuth 2.0) security scheme: the request carries a
// bearer token. Whether the token is good is the server's business, not the spec's.
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	auth := in.RequestValidationInput.Request.Header.Get("Authorization")
	if in.SecurityScheme != nil && in.SecurityScheme.Type == "oauth2" && strings.HasPrefix(auth, "Bearer ") && len(auth) > len("Bearer ") {
		return nil
	}
	return fmt.Errorf("security scheme %s: no bearer token in the Authorization header", in.SecuritySchemeName)
}

// find returns the operation that req's method and path match, with its path parameters.
func (s *Spec) find(req *http.Request) (*operation, map[string]string, error) {
	path := req.URL.EscapedPath()
	var best *operation
	var bestParams []string
	var methods []string
	for _, o := range s.ops {
		m := o.pattern.FindStringSubmatch(path)
		if m == nil {
			continue
		}
		if o.method != req.Method {
			methods = append(methods, o.method+" ("+o.id+")")
			continue
		}
		if best == nil || better(o, m[1:], best, bestParams) {
			best, bestParams = o, m[1:]
		}
	}
	if best == nil {
		hint := ""
		if len(methods) > 0 {
			hint = "; that path allows " + strings.Join(methods, ", ")
		}
		return nil, nil, fmt.Errorf("%w %s %s%s", ErrNoOperation, req.Method, path, hint)
	}
	params := make(map[string]string, len(bestParams))
	for i, v := range bestParams {
		u, err := url.PathUnescape(v)
		if err != nil {
			u = v
		}
		params[best.params[i]] = u
	}
	return best, params, nil
}

// better reports whether operation a, with captured values av, is a closer match than b with bv: a
// template without a multi-segment parameter wins, then the one whose parameters captured less.
func better(a *operation, av []string, b *operation, bv []string) bool {
	if a.greedy != b.greedy {
		return !a.greedy
	}
	return len(strings.Join(av, "")) < len(strings.Join(bv, ""))
}

// input prepares the request side of a validation: a copy of req carrying body.
func (s *Spec) input(req *http.Request, body []byte) (*operation, *openapi3filter.RequestValidationInput, error) {
	o, params, err := s.find(req)
	if err != nil {
		return nil, nil, err
	}
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	if len(body) == 0 {
		r.Body = http.NoBody
	}
	return o, &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: o.route, Options: options()}, nil
}

// ValidateRequest checks req, whose body is body (req.Body is not read), against the operation its
// method and path match: path and query parameters (api-version among them), headers, the bearer token's
// presence, Content-Type and the JSON body.
func (s *Spec) ValidateRequest(req *http.Request, body []byte) error {
	o, in, err := s.input(req, body)
	if err != nil {
		return err
	}
	err = openapi3filter.ValidateRequest(req.Context(), in)
	if v := req.URL.Query().Get("api-version"); v != "" && v != o.version {
		// Stricter than the swagger: ARM's shared ApiVersionParameter is any string, but a document
		// describes one version, and ARM routes by it. A request for another version is not one this
		// spec describes.
		err = errors.Join(err, fmt.Errorf("api-version %q: this spec describes %q", v, o.version))
	}
	return result(o, req, 0, err, strictProblems(o.requestSchema(), body, inRequest))
}

// ValidateResponse checks a response to req (status, header, body) against the responses its
// operation declares: status, headers, Content-Type and the JSON body.
func (s *Spec) ValidateResponse(req *http.Request, status int, header http.Header, body []byte) error {
	o, in, err := s.input(req, nil)
	if err != nil {
		return err
	}
	if header == nil {
		header = http.Header{}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: in.Options}
	body = nullsAsAbsent(body)
	out.SetBodyBytes(body)
	err = openapi3filter.ValidateResponse(req.Context(), out)
	return result(o, req, status, err, strictProblems(o.responseSchema(status), body, inResponse))
}

// result is the Violation of kin-openapi's err and the strict checks' problems, nil when both are
// empty.
func result(o *operation, req *http.Request, status int, err error, strict []string) error {
	if err == nil && len(strict) == 0 {
		return nil
	}
	var ps []string
	if err != nil {
		ps = problems(err, "")
	}
	for _, p := range strict {
		ps = append(ps, "body: "+p)
	}
	return &Violation{OperationID: o.id, Method: req.Method, Path: req.URL.EscapedPath(), Template: o.template,
		Status: status, Problems: ps, Err: err}
}

// problems flattens kin-openapi's nested errors into one line each, naming where the problem is (a
// parameter, the body and a JSON pointer into it) and, for schema errors, the offending value.
func problems(err error, prefix string) []string {
	switch e := err.(type) {
	case openapi3.MultiError:
		var out []string
		for _, inner := range e {
			out = append(out, problems(inner, prefix)...)
		}
		return out
	case *openapi3filter.RequestError:
		switch {
		case e.Parameter != nil:
			prefix += fmt.Sprintf("parameter %q in %s: ", e.Parameter.Name, e.Parameter.In)
		case e.RequestBody != nil:
			prefix += "body: "
		}
		return nested(prefix, e.Reason, e.Err)
	case *openapi3filter.ResponseError:
		return nested(prefix, e.Reason, e.Err)
	case interface{ Unwrap() []error }:
		var out []string
		for _, inner := range e.Unwrap() {
			out = append(out, problems(inner, prefix)...)
		}
		return out
	case *openapi3.SchemaError:
		if e.Origin != nil {
			// allOf, anyOf, oneOf and not wrap the error of the subschema: the inner one says what
			// is wrong, with the full pointer.
			return problems(e.Origin, prefix)
		}
		return []string{prefix + schemaProblem(e)}
	}
	if inner := errors.Unwrap(err); inner != nil {
		return problems(inner, prefix)
	}
	return []string{prefix + err.Error()}
}

// nested is the problems of a wrapping error with reason around inner.
func nested(prefix, reason string, inner error) []string {
	if inner == nil {
		return []string{prefix + reason}
	}
	if reason != "" && reason != inner.Error() {
		prefix += reason + ": "
	}
	return problems(inner, prefix)
}

func schemaProblem(e *openapi3.SchemaError) string {
	ptr := "/" + strings.Join(e.JSONPointer(), "/")
	value, err := json.Marshal(e.Value)
	got := string(value)
	if err != nil {
		got = fmt.Sprint(e.Value)
	}
	if len(got) > 80 {
		got = got[:77] + "..."
	}
	return fmt.Sprintf("at %s: %s (got %s)", ptr, e.Reason, got)
}

// nullsAsAbsent returns body with every object member whose value is null removed, when body is JSON.
//
// Deviation: in responses, null for a property is taken as the property being absent. Strictly, swagger
// 2.0 allows null only with x-nullable (which none of these specs use); but ARM services return null
// for unset optional properties, Microsoft's model validator (oav) accepts it, the Azure SDK reads it
// as absent, and Microsoft's own Machines_Get example returns "tags": null. A required property
// returned as null still fails, as missing. Requests get no such leniency.
func nullsAsAbsent(body []byte) []byte {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // numbers pass through as written
	if len(body) == 0 || dec.Decode(&v) != nil {
		return body
	}
	out, err := json.Marshal(dropNulls(v))
	if err != nil {
		return body
	}
	return out
}

func dropNulls(v any) any {
	switch n := v.(type) {
	case map[string]any:
		for k, e := range n {
			if e == nil {
				delete(n, k)
				continue
			}
			n[k] = dropNulls(e)
		}
	case []any:
		for i, e := range n {
			n[i] = dropNulls(e)
		}
	}
	return v
}
