package azurelocal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// armError is an ARM error answer: the HTTP status, ARM's error code and
// message (`{"error":{"code","message"}}`), and the request ID support asks
// for. It unwraps to the driver sentinel its code means, so apply and the
// planner branch with errors.Is (DESIGN §4 "Errors").
type armError struct {
	Method, Path string
	Status       int
	Code         string
	Message      string
	RequestID    string
	kind         error // a drivers sentinel, or nil
}

func (e *armError) Error() string {
	s := fmt.Sprintf("ARM %s %s: %d %s: %s", e.Method, e.Path, e.Status, e.Code, e.Message)
	if e.Status < 300 { // a poll that read a Failed operation
		s = fmt.Sprintf("ARM operation %s ended Failed: %s: %s", e.Path, e.Code, e.Message)
	}
	if e.RequestID != "" {
		s += " (x-ms-request-id " + e.RequestID + ")"
	}
	if hint := hintFor(e); hint != "" {
		s += "; " + hint
	}
	return s
}

func (e *armError) Unwrap() error { return e.kind }

// errorFrom reads an ARM error answer. A body that is not ARM's error shape
// still gives the status and the first bytes of the body.
func errorFrom(resp *http.Response) error {
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	e := &armError{Method: resp.Request.Method, Path: resp.Request.URL.Path, Status: resp.StatusCode,
		RequestID: resp.Header.Get("x-ms-request-id")}
	if json.Unmarshal(data, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message = body.Error.Code, body.Error.Message
	} else {
		e.Code, e.Message = http.StatusText(resp.StatusCode), truncate(string(data), 200)
	}
	e.kind = sentinelFor(e.Status, e.Code)
	if transient(e.Status, e.Code) {
		return drivers.Transient(e)
	}
	return e
}

// sentinelFor maps ARM's status and code to the driver sentinels.
func sentinelFor(status int, code string) error {
	switch code {
	case "ResourceNotFound", "ParentResourceNotFound", "NotFound", "ResourceDeleted":
		return drivers.ErrNotFound
	case "InvalidParameter", "BadRequest", "InvalidRequestContent", "InvalidResourceName", "LinkedInvalidPropertyId":
		return drivers.ErrInvalidArgument
	case "Conflict", "OperationNotAllowed", "PropertyChangeNotAllowed":
		return drivers.ErrInvalidState
	case "AuthorizationFailed", "InvalidAuthenticationToken", "ExpiredAuthenticationToken", "MissingSubscriptionRegistration":
		return drivers.ErrPrecondition
	}
	switch {
	case status == http.StatusNotFound:
		return drivers.ErrNotFound
	case status == http.StatusConflict:
		return drivers.ErrInvalidState
	case status == http.StatusBadRequest:
		return drivers.ErrInvalidArgument
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return drivers.ErrPrecondition
	}
	return nil
}

// transient: worth retrying at the apply level after the SDK's own retries
// gave up (throttling, server errors, another operation on the resource).
func transient(status int, code string) bool {
	switch code {
	case "AnotherOperationInProgress", "RetryableError", "TooManyRequests":
		return true
	}
	return status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500
}

// hintFor says what to do about the errors an administrator can fix.
func hintFor(e *armError) string {
	switch {
	case e.Status == http.StatusUnauthorized:
		return "the credential was refused: check AZURE_CLIENT_ID/AZURE_TENANT_ID or `az login`"
	case e.Status == http.StatusForbidden:
		return "the identity lacks a role on the resource group (Azure Stack HCI VM Contributor, or Contributor)"
	case e.Code == "MissingSubscriptionRegistration":
		return "register the resource providers Microsoft.AzureStackHCI and Microsoft.HybridCompute in the subscription"
	}
	return ""
}

// transportError: the request did not get an answer (DNS, TLS, connection,
// context). Cancellation stays what it is; the rest is transient.
func transportError(method, path string, err error) error {
	e := fmt.Errorf("ARM %s %s: %w", method, path, err)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return e
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return e
	}
	return drivers.Transient(e)
}

// lroError turns the poller's error (a failed or canceled operation, or an
// error answer while polling) into an ARM error with the operation's code.
func lroError(err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		e := &armError{Status: re.StatusCode, Code: re.ErrorCode, Message: "the long-running operation failed"}
		if re.RawResponse != nil && re.RawResponse.Request != nil {
			e.Method, e.Path = re.RawResponse.Request.Method, re.RawResponse.Request.URL.Path
			e.RequestID = re.RawResponse.Header.Get("x-ms-request-id")
			if msg := operationMessage(re.RawResponse); msg != "" {
				e.Message = msg
			}
		}
		e.kind = sentinelFor(e.Status, e.Code)
		if transient(e.Status, e.Code) {
			return drivers.Transient(e)
		}
		return e
	}
	return fmt.Errorf("azurelocal: long-running operation: %w", err)
}

// operationMessage reads the error message of a failed operation status or
// error answer the poller kept.
func operationMessage(resp *http.Response) string {
	if resp.Body == nil {
		return ""
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &body) == nil {
		return body.Error.Message
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
