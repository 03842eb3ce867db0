package arm

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// armError is an ARM error response: the status it is sent with and the
// {"error":{"code","message"}} body every ARM client decodes.
type armError struct {
	Status  int
	Code    string
	Message string
	// Allow is the methods a path serves, sent as the Allow header of a
	// 405 (RFC 9110 §15.5.6).
	Allow []string
}

func (e *armError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func errf(status int, code, format string, args ...any) *armError {
	return &armError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func badRequest(code, format string, args ...any) *armError {
	return errf(http.StatusBadRequest, code, format, args...)
}

func notFound(kindName, name, rg string) *armError {
	return errf(http.StatusNotFound, "ResourceNotFound",
		"The Resource '%s/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", kindName, name, rg)
}

func parentNotFound(parentID string) *armError {
	return errf(http.StatusNotFound, "ParentResourceNotFound",
		"Can not perform requested operation on nested resource. Parent resource '%s' not found.", parentID)
}

func conflict(format string, args ...any) *armError {
	return errf(http.StatusConflict, "Conflict", format, args...)
}

// errorBody is the JSON shape of an ARM error, also used inside operation
// status resources.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, e *armError) {
	w.Header().Set("x-ms-failure-cause", "gateway")
	if len(e.Allow) > 0 {
		w.Header().Set("Allow", strings.Join(e.Allow, ", "))
	}
	writeJSON(w, e.Status, map[string]errorBody{"error": {Code: e.Code, Message: e.Message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// asARM turns any error into the ARM error it is sent as: an *armError as it
// is, anything else as a 500 InternalServerError.
func asARM(err error) *armError {
	if e, ok := err.(*armError); ok {
		return e
	}
	return errf(http.StatusInternalServerError, "InternalServerError", "%v", err)
}
