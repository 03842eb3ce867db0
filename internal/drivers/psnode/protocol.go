package psnode

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// Frame lines of the host protocol (scripts/host.ps1). A request is one stdin line,
//
//	TLR1 <id> <base64 script text> <base64 JSON parameters>
//
// and its answer three stdout lines: BeginMarker(id), the base64 JSON envelope, EndMarker(id).
// Every other output line is stray host output and ignored. ids are random per request, so
// stray output cannot forge a frame.
const (
	RequestPrefix = "TLR1"
	ReadyLine     = "<<<TLR-READY 1>>>"
	// ExitRequest is the stdin line (without its newline) that ends the host loop.
	ExitRequest = RequestPrefix + " exit"
)

// BeginMarker is the line that opens the answer to request id.
func BeginMarker(id string) string { return "<<<TLR-BEGIN " + id + ">>>" }

// EndMarker is the line that closes the answer to request id.
func EndMarker(id string) string { return "<<<TLR-END " + id + ">>>" }

// Request is one decoded request line.
type Request struct {
	ID     string
	Script []byte          // the script text, byte for byte
	Params json.RawMessage // the decoded JSON parameters
	// Secret is the decoded line after the request, for a script that reads one
	// (SecretCarrier); nil otherwise. DecodeRequest never sets it: the host that knows the
	// script reads the next line.
	Secret *string
}

// SecretCarrier is implemented by parameters that carry a secret the script needs (a guest
// password). Its value never goes into the parameters' JSON: a host with PowerShell module
// logging records the parameter bindings of every cmdlet it runs (event 4103 in
// Microsoft-Windows-PowerShell/Operational; learn.microsoft.com/powershell/module/
// microsoft.powershell.core/about/about_logging_windows), and the JSON passes through
// ConvertFrom-Json. Session.Run sends it as one more line after the request (base64 UTF-8),
// which the script reads itself with [Console]::In.ReadLine() — a .NET call, never logged — and
// turns into a SecureString without a cmdlet seeing it.
type SecretCarrier interface {
	// SecretLine is the secret, and whether there is one to send.
	SecretLine() (string, bool)
}

// EncodeSecretLine renders the line after a request that carries secret, newline included.
func EncodeSecretLine(secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(secret)) + "\n"
}

// EncodeRequest renders a request line, newline included.
func EncodeRequest(id string, script []byte, params []byte) string {
	return RequestPrefix + " " + id + " " + base64.StdEncoding.EncodeToString(script) + " " +
		base64.StdEncoding.EncodeToString(params) + "\n"
}

// DecodeRequest parses a request line (without its newline).
func DecodeRequest(line string) (Request, error) {
	parts := strings.Split(strings.TrimRight(line, "\r\n"), " ")
	if len(parts) != 4 || parts[0] != RequestPrefix || parts[1] == "" {
		return Request{}, errors.New("request: not a TLR1 line with id, script and parameters")
	}
	script, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil {
		return Request{}, fmt.Errorf("request %s: script is not base64: %w", parts[1], err)
	}
	params, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil {
		return Request{}, fmt.Errorf("request %s: parameters are not base64: %w", parts[1], err)
	}
	if !json.Valid(params) {
		return Request{}, fmt.Errorf("request %s: parameters are not JSON", parts[1])
	}
	return Request{ID: parts[1], Script: script, Params: params}, nil
}

// Envelope is what the host answers for each request.
type Envelope struct {
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *ScriptError    `json:"error,omitempty"`
}

// ScriptError is a failure reported by a script: either one the script raised itself
// (Category is one of the Category* constants) or a cmdlet's error record
// (Category is its ErrorCategory, e.g. "ObjectNotFound", ErrorID its FullyQualifiedErrorId).
type ScriptError struct {
	Category string `json:"category"`
	Message  string `json:"message"`
	HResult  int64  `json:"hresult"`
	ErrorID  string `json:"errorId,omitempty"`
}

// Categories the scripts raise with Stop-Tlr.
const (
	CategoryNotFound      = "not_found"
	CategoryInvalidState  = "invalid_state"
	CategoryPrecondition  = "precondition"
	CategoryNotSupported  = "not_supported"
	CategoryAlreadyExists = "already_exists"
	CategoryNotApplied    = "not_applied"
	CategoryInvalidArg    = "invalid_argument"
	CategoryInternal      = "internal"
)

// ErrNotApplied: a cmdlet returned success but reading the setting back showed it did not
// take (the known "Secure Boot change silently not applied to a running VM").
var ErrNotApplied = errors.New("setting did not take effect")

// Hyper-V's WMI job codes: 32775 invalid state for the operation (typically: VM not Off),
// 32773 invalid parameter.
const (
	invalidStateCode = 32775
	invalidParamCode = 32773
)

// Err maps a script error to the drivers sentinels, keeping the host's message.
func (e *ScriptError) Err() error {
	msg := strings.TrimSpace(e.Message)
	if msg == "" {
		msg = "no message"
	}
	return fmt.Errorf("%s: %w", msg, e.sentinel())
}

// categorySentinels maps what Stop-Tlr raises; read-only.
var categorySentinels = map[string]error{
	CategoryNotFound:      drivers.ErrNotFound,
	CategoryInvalidState:  drivers.ErrInvalidState,
	CategoryPrecondition:  drivers.ErrPrecondition,
	CategoryNotSupported:  drivers.ErrNotSupported,
	CategoryAlreadyExists: drivers.ErrAlreadyExists,
	CategoryNotApplied:    ErrNotApplied,
	CategoryInvalidArg:    drivers.ErrInvalidArgument,
}

// cmdletRule recognises a cmdlet's error record (Hyper-V and FailoverClusters modules, which
// every node script runs): it matches when any one of its conditions holds.
type cmdletRule struct {
	sentinel   error
	hresult    int64    // the HResult, when not 0
	categories []string // the ErrorCategory, exactly
	idPrefixes []string // the start of the lower-cased FullyQualifiedErrorId
	messages   []string // a part of the lower-cased message
}

// cmdletRules are tried in order, the first match wins; read-only.
var cmdletRules = []cmdletRule{
	{sentinel: drivers.ErrInvalidState, hresult: invalidStateCode, idPrefixes: []string{"invalidstate"},
		messages: []string{"32775", "cannot be performed while the object is in its current state", "virtual machine is running", "must be turned off"}},
	{sentinel: drivers.ErrPrecondition, messages: []string{"key protector", "igvmagent", "generation 1", "generation 2"}},
	{sentinel: drivers.ErrNotFound, categories: []string{"ObjectNotFound"}, idPrefixes: []string{"objectnotfound"},
		messages: []string{"unable to find a virtual machine"}},
	{sentinel: drivers.ErrInvalidArgument, hresult: invalidParamCode, messages: []string{"32773"}},
	{sentinel: drivers.ErrAlreadyExists, categories: []string{"ResourceExists"}, messages: []string{"already exists"}},
	{sentinel: drivers.ErrNotSupported, categories: []string{"NotImplemented"}, idPrefixes: []string{"notsupported"},
		messages: []string{"not supported"}},
}

func (r *cmdletRule) matches(e *ScriptError, low, id string) bool {
	if r.hresult != 0 && e.HResult == r.hresult {
		return true
	}
	return slices.Contains(r.categories, e.Category) ||
		slices.ContainsFunc(r.idPrefixes, func(p string) bool { return strings.HasPrefix(id, p) }) ||
		slices.ContainsFunc(r.messages, func(m string) bool { return strings.Contains(low, m) })
}

func (e *ScriptError) sentinel() error {
	if s, ok := categorySentinels[e.Category]; ok {
		return s
	}
	low, id := strings.ToLower(e.Message), strings.ToLower(e.ErrorID)
	for i := range cmdletRules {
		if cmdletRules[i].matches(e, low, id) {
			return cmdletRules[i].sentinel
		}
	}
	return errUnclassified
}

var errUnclassified = errors.New("powershell error")

// ParseFrame decodes the base64 line of a frame into an envelope.
func ParseFrame(b64 string) (*Envelope, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return nil, fmt.Errorf("answer frame is not base64: %w", err)
	}
	var env Envelope
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("answer frame is not a JSON envelope: %w", err)
	}
	if !env.OK && env.Error == nil {
		return nil, errors.New("answer frame says ok=false without an error")
	}
	return &env, nil
}

// EncodeFrame renders the three answer lines for id (what the host loop prints).
func EncodeFrame(id string, env *Envelope) (string, error) {
	b, err := json.Marshal(env)
	if err != nil {
		return "", err
	}
	return BeginMarker(id) + "\n" + base64.StdEncoding.EncodeToString(b) + "\n" + EndMarker(id) + "\n", nil
}
