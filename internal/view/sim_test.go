package view_test

import (
	"bytes"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/view"
)

func TestSimChangeLines(t *testing.T) {
	tests := []struct {
		name   string
		render func(*bytes.Buffer) error
		want   string
	}{
		{"change", func(b *bytes.Buffer) error {
			return view.SimChanged(b, view.SimChange{Resource: "vm/avd-01", Summary: "drifted secureBoot=false"})
		}, "vm/avd-01: drifted secureBoot=false\n"},
		{"init created", func(b *bytes.Buffer) error {
			return view.SimInitialised(b, view.SimInit{Cluster: "hci-west", Nodes: []string{"node1", "node2"}, Created: true})
		}, "cluster/hci-west: created (nodes node1, node2)\n"},
		{"init existing", func(b *bytes.Buffer) error {
			return view.SimInitialised(b, view.SimInit{Cluster: "lab", Nodes: []string{"n1"}})
		}, "cluster/lab: exists already (nodes n1)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.render(&b); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got %q, want %q", b.String(), tt.want)
			}
		})
	}
}
