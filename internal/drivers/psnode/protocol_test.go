package psnode_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
)

// TestScriptErrorMapping: errors the scripts raise and error records cmdlets produce map to
// the drivers sentinels; none is transient (a refused op must not be retried).
func TestScriptErrorMapping(t *testing.T) {
	tests := []struct {
		name string
		in   psnode.ScriptError
		want error
	}{
		{"script: not found", psnode.ScriptError{Category: "not_found", Message: "vm/x: no such VM on this node"}, drivers.ErrNotFound},
		{"script: VM not Off", psnode.ScriptError{Category: "invalid_state", Message: "needs the VM Off (error 32775)"}, drivers.ErrInvalidState},
		{"script: precondition", psnode.ScriptError{Category: "precondition", Message: "no key protector"}, drivers.ErrPrecondition},
		{"script: did not take", psnode.ScriptError{Category: "not_applied", Message: "Secure Boot is Off"}, psnode.ErrNotApplied},
		{"script: exists", psnode.ScriptError{Category: "already_exists"}, drivers.ErrAlreadyExists},
		{"script: not supported", psnode.ScriptError{Category: "not_supported"}, drivers.ErrNotSupported},
		{"script: bad argument", psnode.ScriptError{Category: "invalid_argument"}, drivers.ErrInvalidArgument},
		{"cmdlet: 32775 in the message", psnode.ScriptError{Category: "InvalidOperation", Message: "Failed to modify device 'Firmware'. (Virtual machine ID 6F1C...) The operation cannot be performed while the object is in its current state. (0x8007)", ErrorID: "InvalidState,Microsoft.HyperV.PowerShell.Commands.SetVMFirmware"}, drivers.ErrInvalidState},
		{"cmdlet: 32775 as the code", psnode.ScriptError{Category: "InvalidOperation", Message: "job failed", HResult: 32775}, drivers.ErrInvalidState},
		{"cmdlet: 32773 invalid parameter", psnode.ScriptError{Category: "InvalidArgument", Message: "job failed with 32773"}, drivers.ErrInvalidArgument},
		{"cmdlet: key protector", psnode.ScriptError{Category: "InvalidOperation", Message: "The virtual TPM cannot be changed without a valid key protector."}, drivers.ErrPrecondition},
		{"cmdlet: IgvmAgent", psnode.ScriptError{Category: "InvalidOperation", Message: "The IgvmAgent service is not running."}, drivers.ErrPrecondition},
		{"cmdlet: Get-VM cannot find", psnode.ScriptError{Category: "InvalidArgument", Message: `Hyper-V was unable to find a virtual machine with name "x".`, ErrorID: "InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM"}, drivers.ErrNotFound},
		{"cmdlet: ObjectNotFound", psnode.ScriptError{Category: "ObjectNotFound", Message: "Cannot find any service with service name 'IGVmAgent'."}, drivers.ErrPrecondition},
		{"cmdlet: cluster group missing", psnode.ScriptError{Category: "ObjectNotFound", Message: "The cluster group 'x' was not found."}, drivers.ErrNotFound},
		{"cmdlet: VM must be turned off", psnode.ScriptError{Category: "InvalidOperation", Message: "The virtual machine must be turned off."}, drivers.ErrInvalidState},
		{"cmdlet: InvalidState error id", psnode.ScriptError{Category: "InvalidOperation", Message: "failed", ErrorID: "InvalidState,Microsoft.HyperV.PowerShell.Commands.StartVM"}, drivers.ErrInvalidState},
		{"cmdlet: 32773 as the code", psnode.ScriptError{Category: "InvalidOperation", Message: "job failed", HResult: 32773}, drivers.ErrInvalidArgument},
		{"cmdlet: ResourceExists", psnode.ScriptError{Category: "ResourceExists", Message: "x"}, drivers.ErrAlreadyExists},
		{"cmdlet: already exists", psnode.ScriptError{Category: "InvalidOperation", Message: "The cluster group 'x' already exists."}, drivers.ErrAlreadyExists},
		{"cmdlet: NotImplemented", psnode.ScriptError{Category: "NotImplemented", Message: "x"}, drivers.ErrNotSupported},
		{"cmdlet: NotSupported error id", psnode.ScriptError{Category: "InvalidOperation", Message: "x", ErrorID: "NotSupported,Microsoft.HyperV.PowerShell.Commands.NewVM"}, drivers.ErrNotSupported},
		{"cmdlet: the first matching rule wins", psnode.ScriptError{Category: "ObjectNotFound", Message: "the virtual machine is running"}, drivers.ErrInvalidState},
		{"script category beats the message", psnode.ScriptError{Category: "not_found", Message: "no key protector (32775)"}, drivers.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.in.Err()
			if !errors.Is(err, tc.want) {
				t.Errorf("Err() = %v, want it to wrap %v", err, tc.want)
			}
			if drivers.IsTransient(err) {
				t.Errorf("Err() = %v is transient", err)
			}
		})
	}
	t.Run("unclassified keeps the message", func(t *testing.T) {
		err := (&psnode.ScriptError{Category: "WriteError", Message: "disk full"}).Err()
		for _, s := range []error{drivers.ErrNotFound, drivers.ErrInvalidState, drivers.ErrPrecondition, drivers.ErrNotSupported, drivers.ErrAlreadyExists} {
			if errors.Is(err, s) {
				t.Errorf("%v wraps %v", err, s)
			}
		}
		if !strings.Contains(err.Error(), "disk full") {
			t.Errorf("%v lost the message", err)
		}
	})
}

func TestRequestRoundTrip(t *testing.T) {
	script := []byte("$ErrorActionPreference = 'Stop'\r\nStop-VM -Name ($args[0]) # ünïcode, quotes ' \" and $()\n")
	params := []byte(`{"vm":"a b\n'\"$()"}`)
	line := psnode.EncodeRequest("abc123", script, params)
	if strings.Count(line, "\n") != 1 || strings.Count(line, " ") != 3 {
		t.Fatalf("request line is not one line of four fields: %q", line)
	}
	req, err := psnode.DecodeRequest(strings.TrimSuffix(line, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if req.ID != "abc123" || string(req.Script) != string(script) || string(req.Params) != string(params) {
		t.Errorf("decoded %+v", req)
	}
	for _, bad := range []string{"", "TLR1", "TLR1 id a", "TLR2 id YQ== e30=", "TLR1 id !! e30=", "TLR1 id YQ== !!", "TLR1 id YQ== YQ==", "TLR1  YQ== e30="} {
		if _, err := psnode.DecodeRequest(bad); err == nil {
			t.Errorf("DecodeRequest(%q) accepted it", bad)
		}
	}
}

func TestParseFrame(t *testing.T) {
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name    string
		in      string
		ok      bool
		wantErr bool
	}{
		{"success", enc(`{"ok":true,"result":{"Changed":true}}`), true, false},
		{"success with null result", enc(`{"ok":true,"result":null}`), true, false},
		{"failure", enc(`{"ok":false,"error":{"category":"not_found","message":"x","hresult":-2146233079,"errorId":""}}`), false, false},
		{"failure without error", enc(`{"ok":false}`), false, true},
		{"not base64", "{not base64}", false, true},
		{"not JSON", enc("WARNING: hello"), false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, err := psnode.ParseFrame(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err == nil && env.OK != tc.ok {
				t.Errorf("ok = %v, want %v", env.OK, tc.ok)
			}
		})
	}
}

// FuzzParseFrame: answers from a host are outside input; nothing panics.
func FuzzParseFrame(f *testing.F) {
	f.Add(base64.StdEncoding.EncodeToString([]byte(`{"ok":true,"result":{"Changed":true}}`)))
	f.Add(base64.StdEncoding.EncodeToString([]byte(`{"ok":false,"error":{"category":"x","hresult":1e400}}`)))
	f.Add("!!!")
	f.Fuzz(func(t *testing.T, s string) {
		env, err := psnode.ParseFrame(s)
		if err == nil && !env.OK && env.Error == nil {
			t.Fatal("accepted ok=false without an error")
		}
		if err == nil && env.Error != nil {
			_ = env.Error.Err()
		}
	})
}

// FuzzDecodeRequest: what a fake host reads; nothing panics and accepted lines round-trip.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(strings.TrimSuffix(psnode.EncodeRequest("id", []byte("x"), []byte("{}")), "\n"))
	f.Add("TLR1 a b c")
	f.Fuzz(func(t *testing.T, line string) {
		req, err := psnode.DecodeRequest(line)
		if err != nil {
			return
		}
		again := psnode.EncodeRequest(req.ID, req.Script, req.Params)
		if req2, err := psnode.DecodeRequest(strings.TrimSuffix(again, "\n")); err != nil || string(req2.Script) != string(req.Script) || string(req2.Params) != string(req.Params) {
			t.Fatalf("re-encoded request does not decode the same: %v", err)
		}
	})
}
