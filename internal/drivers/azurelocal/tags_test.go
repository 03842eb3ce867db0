package azurelocal

import (
	"errors"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

func TestTagsRoundTrip(t *testing.T) {
	a := &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "ab12", Protect: true, VTPMIdentity: strings.Repeat("f", 64), Node: "node2"}
	tags, err := tagsWithAnnotations(map[string]string{"owner": "finance", tagNode: "stale"}, a)
	if err != nil {
		t.Fatal(err)
	}
	if tags["owner"] != "finance" {
		t.Errorf("the machine's own tag was lost: %v", tags)
	}
	got, err := annotationsFromTags(tags)
	if err != nil || *got != *a {
		t.Fatalf("round trip: %+v %v, want %+v", got, err, a)
	}
	cleared, _ := tagsWithAnnotations(tags, nil)
	if len(cleared) != 1 || cleared["owner"] != "finance" {
		t.Errorf("clearing kept %v", cleared)
	}
}

func TestTagsEditedByHand(t *testing.T) {
	for _, tc := range []struct {
		name string
		tags map[string]string
		want string // "" = not managed, no error
	}{
		{"not ours", map[string]string{"owner": "x"}, ""},
		{"managed by another tool", map[string]string{tagManagedBy: "terraform"}, ""},
		{"protect edited", map[string]string{tagManagedBy: drivers.ManagedBy, tagProtect: "yes please"}, tagProtect},
		{"identity edited", map[string]string{tagManagedBy: drivers.ManagedBy, tagVTPMIdentity: "DEADBEEF"}, tagVTPMIdentity},
		{"hash edited", map[string]string{tagManagedBy: drivers.ManagedBy, tagSpecHash: "$(rm -rf /)"}, tagSpecHash},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := annotationsFromTags(tc.tags)
			if tc.want == "" {
				if err != nil || a != nil {
					t.Fatalf("got %+v %v, want not managed", a, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to name %s", err, tc.want)
			}
		})
	}
}

func TestTagLimits(t *testing.T) {
	many := map[string]string{}
	for i := 0; i < 48; i++ {
		many[string(rune('a'+i%26))+strings.Repeat("x", i)] = "v"
	}
	_, err := tagsWithAnnotations(many, &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: "ab"})
	if !errors.Is(err, drivers.ErrInvalidArgument) || !strings.Contains(err.Error(), "ARM allows 50") {
		t.Fatalf("51 tags: %v", err)
	}
	_, err = tagsWithAnnotations(nil, &drivers.Annotations{ManagedBy: drivers.ManagedBy, Node: strings.Repeat("n", 300)})
	if !errors.Is(err, drivers.ErrInvalidArgument) || !strings.Contains(err.Error(), tagNode) {
		t.Fatalf("long value: %v", err)
	}
}

func FuzzAnnotationsFromTags(f *testing.F) {
	f.Add(drivers.ManagedBy, "ab", "true", "ff", "node1")
	f.Add("x", "", "", "", "")
	f.Fuzz(func(t *testing.T, m, h, p, id, n string) {
		tags := map[string]string{tagManagedBy: m, tagSpecHash: h, tagProtect: p, tagVTPMIdentity: id, tagNode: n}
		a, err := annotationsFromTags(tags)
		if err != nil || a == nil {
			return
		}
		back, err := tagsWithAnnotations(nil, a)
		if err != nil {
			return // over ARM's limits
		}
		again, err := annotationsFromTags(back)
		if err != nil || *again != *a {
			t.Fatalf("round trip of %+v: %+v %v", a, again, err)
		}
	})
}
