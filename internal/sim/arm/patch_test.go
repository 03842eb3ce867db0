package arm_test

import (
	"strings"
	"testing"
)

// TestPatchTags: the Azure Local types whose update model is tags alone take
// a PATCH of tags as a long-running operation (200 with the resource
// Accepted, then Succeeded with the new tags), and refuse anything else in
// the body, naming it.
func TestPatchTags(t *testing.T) {
	s := newSim(t)
	s.infra()
	s.lro(201, "PUT", hciPath("storageContainers", "sc")+hciAPI, map[string]any{"location": "eastus", "extendedLocation": extLoc(),
		"properties": map[string]any{"path": `C:\ClusterStorage\Volume1`}})
	for _, path := range []string{
		hciPath("marketplaceGalleryImages", "win11"),
		hciPath("logicalNetworks", "lnet"),
		hciPath("networkInterfaces", "nic"),
		hciPath("storageContainers", "sc"),
	} {
		typ := strings.Split(path, "/")[8]
		t.Run(typ, func(t *testing.T) {
			before := s.must(200, "GET", path+hciAPI, nil)
			r := s.must(200, "PATCH", path+hciAPI, map[string]any{"tags": map[string]string{"spec-hash": "abc", "managed-by": "tlreconcile"}})
			if r.prop("properties.provisioningState") != "Accepted" || r.prop("tags.spec-hash") != "abc" {
				t.Fatalf("first answer: %s", r.raw)
			}
			if st := s.wait(r); st != "Succeeded" {
				t.Fatalf("operation %s", st)
			}
			got := s.must(200, "GET", path+hciAPI, nil)
			if got.prop("tags.spec-hash") != "abc" || got.prop("properties.provisioningState") != "Succeeded" {
				t.Fatalf("after the update: %s", got.raw)
			}
			if b, a := before.prop("properties.vmSwitchName"), got.prop("properties.vmSwitchName"); b != a {
				t.Errorf("a tags update changed properties.vmSwitchName from %v to %v", b, a)
			}
			cleared := s.lro(200, "PATCH", path+hciAPI, map[string]any{"tags": map[string]string{}})
			if tags := s.must(200, "GET", path+hciAPI, nil).prop("tags"); tags != nil {
				t.Errorf("after tags {}: tags %v (%s)", tags, cleared.raw)
			}

			for _, bad := range []struct {
				name   string
				body   map[string]any
				status int
				code   string
				names  string
			}{
				{"properties", map[string]any{"properties": map[string]any{"vmSwitchName": "other"}}, 400, "InvalidRequestContent", "properties"},
				{"location and tags", map[string]any{"location": "westus", "tags": map[string]string{}}, 400, "InvalidRequestContent", "location"},
				{"tags not strings", map[string]any{"tags": map[string]any{"n": 1}}, 400, "InvalidRequestContent", "tags"},
			} {
				t.Run(bad.name, func(t *testing.T) {
					r := s.do("PATCH", path+hciAPI, bad.body)
					msg, _ := r.prop("error.message").(string)
					if r.status != bad.status || r.errCode() != bad.code || !strings.Contains(msg, bad.names) {
						t.Fatalf("got %d %s, want %d %s naming %s: %s", r.status, r.errCode(), bad.status, bad.code, bad.names, r.raw)
					}
				})
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		r := s.do("PATCH", hciPath("logicalNetworks", "none")+hciAPI, map[string]any{"tags": map[string]string{}})
		if r.status != 404 || r.errCode() != "ResourceNotFound" {
			t.Fatalf("got %d %s: %s", r.status, r.errCode(), r.raw)
		}
	})
}
