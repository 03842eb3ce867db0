package armspec

import (
	"bytes"
	"errors"
	"io"
	"net/http"
)

// Transport returns a RoundTripper that sends through next (http.DefaultTransport when nil) and
// validates every request and response on the way, calling fail with each violation; for example
// t.Error, as the transport of a test's client (or of azcore's pipeline), so that every exchange a test
// makes is checked against the spec. Bodies are read and restored, so the caller sees them unchanged.
// A request the spec rejects is still sent: the server's answer to it is the server's business, and is
// validated like any other.
func (s *Spec) Transport(next http.RoundTripper, fail func(error)) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{spec: s, next: next, fail: fail}
}

type transport struct {
	spec *Spec
	next http.RoundTripper
	fail func(error)
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := drain(req.Body)
	if err != nil {
		return nil, err
	}
	reqErr := t.spec.ValidateRequest(req, body)
	if reqErr != nil {
		t.fail(reqErr)
	}
	// RoundTrip must not modify req: the copy carries the restored body.
	out := req
	if body != nil {
		out = req.Clone(req.Context())
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	resp, err := t.next.RoundTrip(out)
	if err != nil {
		return resp, err
	}
	respBody, err := drain(resp.Body)
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	// A request that matches no operation has no responses to check against: reported once.
	if !errors.Is(reqErr, ErrNoOperation) {
		if err := t.spec.ValidateResponse(req, resp.StatusCode, resp.Header, respBody); err != nil {
			t.fail(err)
		}
	}
	return resp, nil
}

// drain reads and closes body; the caller puts a copy back where it belongs.
func drain(body io.ReadCloser) ([]byte, error) {
	if body == nil || body == http.NoBody {
		return nil, nil
	}
	data, err := io.ReadAll(body)
	_ = body.Close()
	return data, err
}
