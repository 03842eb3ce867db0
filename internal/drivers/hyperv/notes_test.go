package hyperv_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/guestattest"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
)

func TestParseNotes(t *testing.T) {
	ann := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "h", Protect: true, VTPMIdentity: "id", Node: "node1"}
	block := hyperv.RenderNotes("", ann)
	tests := []struct {
		name      string
		notes     string
		managed   bool
		wantAdmin string
	}{
		{"empty", "", false, ""},
		{"admin text only", "owner: finance", false, "owner: finance"},
		{"block only", block, true, ""},
		{"admin text then block", "owner: finance\n" + block, true, "owner: finance"},
		{"CRLF line endings", strings.ReplaceAll("owner\n"+block, "\n", "\r\n"), true, "owner"},
		{"text after the block is kept", "top\n" + block + "\nbelow", true, "top\nbelow"},
		{"broken JSON", hyperv.NotesBegin + "\n{nope\n" + hyperv.NotesEnd, false, hyperv.NotesBegin + "\n{nope\n" + hyperv.NotesEnd},
		{"someone else's managed_by", hyperv.NotesBegin + "\n{\"managed_by\":\"other\"}\n" + hyperv.NotesEnd, false, hyperv.NotesBegin + "\n{\"managed_by\":\"other\"}\n" + hyperv.NotesEnd},
		{"unknown field", hyperv.NotesBegin + "\n{\"managed_by\":\"tlreconcile\",\"x\":1}\n" + hyperv.NotesEnd, false, hyperv.NotesBegin + "\n{\"managed_by\":\"tlreconcile\",\"x\":1}\n" + hyperv.NotesEnd},
		{"two JSON values", hyperv.NotesBegin + "\n{\"managed_by\":\"tlreconcile\"}{}\n" + hyperv.NotesEnd, false, hyperv.NotesBegin + "\n{\"managed_by\":\"tlreconcile\"}{}\n" + hyperv.NotesEnd},
		{"end marker without begin", "x\n" + hyperv.NotesEnd, false, "x\n" + hyperv.NotesEnd},
		{"dangling begin above a real block", hyperv.NotesBegin + "\n" + block, true, hyperv.NotesBegin},
		{"markers inside a line are text", "say " + hyperv.NotesBegin + " and " + hyperv.NotesEnd, false, "say " + hyperv.NotesBegin + " and " + hyperv.NotesEnd},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, admin, ok := hyperv.ParseNotes(tc.notes)
			if ok != tc.managed || (a != nil) != tc.managed {
				t.Fatalf("managed = %v (annotations %+v), want %v", ok, a, tc.managed)
			}
			if ok && *a != *ann {
				t.Errorf("annotations = %+v, want %+v", *a, *ann)
			}
			if admin != tc.wantAdmin {
				t.Errorf("admin text = %q, want %q", admin, tc.wantAdmin)
			}
		})
	}
}

func TestMergeNotesKeepsAdminText(t *testing.T) {
	a1 := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "1"}
	a2 := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "2"}
	admin := "owner: finance team\nticket CHG-4711: do not move on Fridays"
	n1 := hyperv.MergeNotes(admin, a1)
	n2 := hyperv.MergeNotes(n1, a2)
	got, gotAdmin, ok := hyperv.ParseNotes(n2)
	if !ok || *got != *a2 || gotAdmin != admin {
		t.Fatalf("after two merges: %+v, admin %q; want %+v and %q", got, gotAdmin, *a2, admin)
	}
	if strings.Count(n2, hyperv.NotesBegin) != 1 {
		t.Errorf("merging twice left %d blocks:\n%s", strings.Count(n2, hyperv.NotesBegin), n2)
	}
	if removed := hyperv.MergeNotes(n2, nil); removed != admin {
		t.Errorf("removing the block left %q, want %q", removed, admin)
	}
}

// TestNotesKeepTheAttestation: the attest op's record sits in the block beside the
// annotations; set-annotations' merge keeps it, the administrator's text stays, and only a
// VM with a block takes one.
func TestNotesKeepTheAttestation(t *testing.T) {
	yes := true
	rec := guestattest.Record{Attested: drivers.Attested{Time: time.Date(2026, 12, 2, 19, 0, 0, 0, time.UTC), Result: drivers.AttestVerified,
		Node: "node1", SecureBoot: &yes, EK: strings.Repeat("e", 64), Boot: "0123456789ab", Baseline: "0123456789ab",
		Components: []string{`\EFI\Microsoft\Boot\bootmgfw.efi`}}, AK: strings.Repeat("a", 32)}
	admin := "owner: finance"
	a1 := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "1"}
	n1, err := hyperv.WithAttestation(hyperv.MergeNotes(admin, a1), rec)
	if err != nil {
		t.Fatal(err)
	}
	a2 := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "2"}
	n2 := hyperv.MergeNotes(n1, a2)
	got, ak := hyperv.NotesAttestation(n2)
	if got == nil || ak != rec.AK || !reflect.DeepEqual(*got, rec.Attested) {
		t.Fatalf("after set-annotations: %+v (AK %q), want %+v", got, ak, rec.Attested)
	}
	if ann, gotAdmin, ok := hyperv.ParseNotes(n2); !ok || *ann != *a2 || gotAdmin != admin {
		t.Errorf("annotations %+v, admin %q", ann, gotAdmin)
	}
	if _, err := hyperv.WithAttestation(admin, rec); !errors.Is(err, drivers.ErrPrecondition) {
		t.Errorf("an unmanaged VM's Notes took a record: %v", err)
	}
	damaged := strings.Replace(n2, "r=verified", "r=great", 1)
	if a, _ := hyperv.NotesAttestation(damaged); a != nil {
		t.Errorf("an edited record was taken: %+v", a)
	}
	if a, _, ok := hyperv.ParseNotes(damaged); !ok || a == nil {
		t.Error("an edited record made the VM unmanaged; only the attestation should be dropped")
	}
}

// FuzzNotes: any Notes parse without panicking; rendering annotations after the admin text
// parses back to exactly those annotations and that admin text.
func FuzzNotes(f *testing.F) {
	f.Add("", "h", "node1")
	f.Add("owner: x\n"+hyperv.NotesBegin+"\n{\"managed_by\":\"tlreconcile\"}\n"+hyperv.NotesEnd, "h", "n")
	f.Add(hyperv.NotesEnd+"\r\n"+hyperv.NotesBegin+"\r\n", "\n", "\r")
	f.Add("a\r\n\r\n\n", "--- tlreconcile:end ---", "{}")
	f.Fuzz(func(t *testing.T, notes, hash, node string) {
		_, admin, _ := hyperv.ParseNotes(notes)
		a := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: hash, Node: node}
		rendered := hyperv.RenderNotes(admin, a)
		got, gotAdmin, ok := hyperv.ParseNotes(rendered)
		if !ok || *got != *a {
			// Invalid UTF-8 does not survive JSON; everything else must.
			if !validUTF8(hash) || !validUTF8(node) {
				return
			}
			t.Fatalf("annotations did not round-trip: %+v from %q", got, rendered)
		}
		if gotAdmin != admin {
			t.Fatalf("admin text did not round-trip: %q, want %q", gotAdmin, admin)
		}
		// Merging again is stable.
		if again := hyperv.MergeNotes(rendered, a); again != rendered {
			t.Fatalf("merge is not idempotent:\n%q\n%q", again, rendered)
		}
	})
}

func validUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
