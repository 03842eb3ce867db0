package drivers

import (
	"fmt"
	"strings"
)

// ResourceKind is the kind part of a resource address.
type ResourceKind string

// Resource kinds; these strings are the first part of every address.
const (
	KindVM      ResourceKind = "vm"
	KindNode    ResourceKind = "node"
	KindCluster ResourceKind = "cluster"
)

// Resource is the typed address of something tlreconcile plans or changes.
// The strings "vm/NAME" (String) and "CLUSTER/NAME" (Key) are only how it is
// shown and how maps are keyed; code that needs the parts uses the fields.
type Resource struct {
	Kind    ResourceKind
	Cluster string
	Name    string
}

// VMResource is the address of VM name in cluster.
func VMResource(cluster, name string) Resource {
	return Resource{Kind: KindVM, Cluster: cluster, Name: name}
}

// String is the address users see and plans carry: "vm/NAME".
func (r Resource) String() string { return string(r.Kind) + "/" + r.Name }

// Key is the address unique across kinds and clusters, "KIND/CLUSTER/NAME":
// how the plan keys its observation fingerprints and its identity
// acceptances.
func (r Resource) Key() string { return string(r.Kind) + "/" + r.Cluster + "/" + r.Name }

// ParseResource reads "vm/NAME", "node/NAME" or "cluster/NAME" of cluster.
func ParseResource(cluster, s string) (Resource, error) {
	kind, name, ok := strings.Cut(s, "/")
	switch ResourceKind(kind) {
	case KindVM, KindNode, KindCluster:
	default:
		ok = false
	}
	if !ok || name == "" || strings.Contains(name, "/") {
		return Resource{}, fmt.Errorf("resource %q: want vm/NAME, node/NAME or cluster/NAME", s)
	}
	return Resource{Kind: ResourceKind(kind), Cluster: cluster, Name: name}, nil
}

// Identity is a vTPM identity: the hex sha256 of the EK public area ("" unknown).
type Identity string

// Short abbreviates the identity for messages: its first 12 hex digits, or
// "(none)" when it is unknown.
func (id Identity) Short() string {
	if id == "" {
		return "(none)"
	}
	if len(id) > 12 {
		return string(id[:12])
	}
	return string(id)
}
