package drivers

import (
	"fmt"
	"sort"
	"strings"
)

// Factory builds a driver.
type Factory func(Config) (Driver, error)

// Registry maps driver names (the Cluster's spec.driver) to factories. It is a
// value, not package state: cmd builds one and registers the drivers it links.
type Registry struct {
	factories map[string]Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{factories: map[string]Factory{}} }

// Register adds a driver under name; registering a name twice is a programming error.
func (r *Registry) Register(name string, f Factory) {
	if _, dup := r.factories[name]; dup {
		panic("drivers: duplicate registration of " + name)
	}
	r.factories[name] = f
}

// Names lists registered drivers, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.factories))
	for n := range r.factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open builds the named driver.
func (r *Registry) Open(name string, cfg Config) (Driver, error) {
	f, ok := r.factories[name]
	if !ok {
		return nil, fmt.Errorf("driver %q: %w (known drivers: %s)", name, ErrNotFound, strings.Join(r.Names(), ", "))
	}
	return f(cfg)
}
