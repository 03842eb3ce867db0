package psnode_test

import (
	"bytes"
	"encoding/base64"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
)

// TestNewHostScriptsComposesTheSharedLoop: a catalog of NewHostScripts sends the driver's
// helpers followed by the shared loop as its host line, and the helpers file is neither a
// request script nor identifiable as one.
func TestNewHostScriptsComposesTheSharedLoop(t *testing.T) {
	fsys := fstest.MapFS{
		"s/helpers.ps1": {Data: []byte("$ErrorActionPreference = 'Stop'\nfunction Get-X { 1 }")},
		"s/observe.ps1": {Data: []byte("# observe\n")},
	}
	sc := psnode.NewHostScripts(fsys, "s", "helpers")
	loop := psnode.SharedHostLoop()
	for _, want := range [][]byte{[]byte("<<<TLR-READY 1>>>"), []byte("function Stop-Tlr"), []byte("'TLR1 exit'")} {
		if !bytes.Contains(loop, want) {
			t.Errorf("shared loop lacks %q", want)
		}
	}
	wantHost := "$ErrorActionPreference = 'Stop'\nfunction Get-X { 1 }\n" + string(loop)
	if got := string(sc.Host()); got != wantHost {
		t.Errorf("Host() = %q..., want the helpers, a newline, then the shared loop", got[:min(len(got), 80)])
	}
	if got, want := sc.HostLine(), base64.StdEncoding.EncodeToString([]byte(wantHost))+"\n"; got != want {
		t.Error("HostLine() is not the base64 of Host()")
	}
	if got := sc.Names(); !slices.Equal(got, []string{"observe"}) {
		t.Errorf("Names() = %v, want [observe] (the helpers are not a request script)", got)
	}
	if _, ok := sc.Identify(sc.Host()); ok {
		t.Error("Identify accepted the host loop as a request script")
	}
	// A catalog of NewScripts still sends its own host file alone.
	if got := string(psnode.NewScripts(fsys, "s", "helpers").Host()); got != "$ErrorActionPreference = 'Stop'\nfunction Get-X { 1 }" {
		t.Errorf("NewScripts Host() = %q, want the helpers file alone", got)
	}
}
