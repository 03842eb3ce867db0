package arm

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/sim/simfs"
)

// resource is an ARM resource as it is served: the envelope every resource
// type shares and its properties as the client sent them, plus what the sim
// set (provisioningState, status, vmId).
type resource struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	Type             string            `json:"type"`
	Location         string            `json:"location,omitempty"`
	Kind             string            `json:"kind,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
	ExtendedLocation *extendedLocation `json:"extendedLocation,omitempty"`
	Identity         json.RawMessage   `json:"identity,omitempty"`
	Properties       map[string]any    `json:"properties"`
	SystemData       *systemData       `json:"systemData,omitempty"`
}

type extendedLocation struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

type systemData struct {
	CreatedBy          string    `json:"createdBy,omitempty"`
	CreatedByType      string    `json:"createdByType,omitempty"`
	CreatedAt          time.Time `json:"createdAt"`
	LastModifiedBy     string    `json:"lastModifiedBy,omitempty"`
	LastModifiedByType string    `json:"lastModifiedByType,omitempty"`
	LastModifiedAt     time.Time `json:"lastModifiedAt"`
}

// record is one resource file: the served resource and what only the sim
// knows about it (the operation running on it, the node the host placed it on).
type record struct {
	Resource resource `json:"resource"`
	Op       string   `json:"op,omitempty"`
	Node     string   `json:"node,omitempty"`
}

// store keeps resources as files under root, at directories that mirror their
// lower-cased ARM IDs (ARM IDs are case-insensitive), so a collection is a
// directory listing and one resource is one file.
type store struct {
	root string // <stateDir>/arm
}

const resourceFile = "resource.json"

func (s *store) dir(id string) string {
	segs := strings.Split(strings.Trim(strings.ToLower(id), "/"), "/")
	return filepath.Join(append([]string{s.root, "resources"}, segs...)...)
}

// get returns the record of id, or nil when there is none.
func (s *store) get(id string) (*record, error) {
	return s.read(filepath.Join(s.dir(id), resourceFile))
}

// read returns the record in file, or nil when there is none.
func (s *store) read(file string) (*record, error) {
	var rec record
	ok, err := simfs.ReadJSON(file, &rec)
	if err != nil || !ok {
		return nil, err
	}
	return &rec, nil
}

func (s *store) put(rec *record) error {
	return simfs.WriteJSON(filepath.Join(s.dir(rec.Resource.ID), resourceFile), rec)
}

func (s *store) remove(id string) error {
	err := os.Remove(filepath.Join(s.dir(id), resourceFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// list returns every record directly under the collection ID, in the
// order of their lower-case names (the order lists page in).
func (s *store) list(collectionID string) ([]*record, error) {
	recs, _, err := s.page([]collection{{dir: s.dir(collectionID)}}, nil, -1)
	return recs, err
}

// lockGroup serialises every write in one resource group, across goroutines
// and processes. Reads need no lock: every write is an atomic rename.
func (s *store) lockGroup(sub, rg string) (func(), error) {
	dir := filepath.Join(s.root, "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return simfs.Lock(filepath.Join(dir, strings.ToLower(sub)+"."+strings.ToLower(rg)+".lock"))
}

func (s *store) opPath(id string) string {
	return filepath.Join(s.root, "operations", strings.ToLower(id)+".json")
}
