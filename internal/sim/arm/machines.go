package arm

import (
	"net/http"
)

// Arc machines are synchronous in the spec (Machines_CreateOrUpdate answers
// 200, Machines_Delete 202 or 204, no long-running operation).

func validateMachine(_ *Server, _ *call, res *resource, old *record) *armError {
	if old != nil && old.Resource.Kind != "" && !eq(old.Resource.Kind, res.Kind) {
		return propertyChange("kind", "an Arc machine keeps its kind")
	}
	return nil
}

func (s *Server) putMachine(c *call) error {
	var res resource
	if err := decodeBody(c, &res); err != nil {
		return err
	}
	unlock, err := s.store.lockGroup(c.sub, c.rg)
	if err != nil {
		return err
	}
	defer unlock()
	old, err := s.store.get(c.resourceID())
	if err != nil {
		return err
	}
	if res.Location == "" {
		return badRequest("LocationRequired", "the location property is required for an Arc machine: set location (e.g. %q)", s.opts.Location)
	}
	if verr := validateMachine(s, c, &res, old); verr != nil {
		return verr
	}
	rec := s.newRecord(c, res, old)
	rec.Resource.Properties["provisioningState"] = opSucceeded
	if err := s.store.put(rec); err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, rec.Resource)
	return nil
}

// machineUpdate is the spec's MachineUpdate: tags, kind, properties,
// identity. The sim applies tags and refuses a kind change.
type machineUpdate struct {
	Tags *map[string]string `json:"tags"`
	Kind string             `json:"kind"`
}

func (s *Server) patchMachine(c *call) error {
	var upd machineUpdate
	if err := decodeBody(c, &upd); err != nil {
		return err
	}
	unlock, err := s.store.lockGroup(c.sub, c.rg)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := s.store.get(c.resourceID())
	if err != nil {
		return err
	}
	if rec == nil {
		return s.notFound(c)
	}
	if upd.Kind != "" && !eq(upd.Kind, rec.Resource.Kind) {
		return propertyChange("kind", "an Arc machine keeps its kind")
	}
	if upd.Tags != nil {
		rec.Resource.Tags = *upd.Tags
	}
	rec.Resource.SystemData.LastModifiedBy = c.claims.ClientID
	if err := s.store.put(rec); err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, rec.Resource)
	return nil
}

// deleteMachine deletes an Arc machine and its run commands; one that still
// has a virtual machine instance is refused, so the VM is deleted through its
// own long-running delete (and the cluster's Host) first.
func (s *Server) deleteMachine(c *call) error {
	unlock, err := s.store.lockGroup(c.sub, c.rg)
	if err != nil {
		return err
	}
	defer unlock()
	rec, err := s.store.get(c.resourceID())
	if err != nil {
		return err
	}
	if rec == nil {
		c.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	c.machine = c.name
	vmiID := c.machineID(c.name) + "/providers/" + nsHCI + "/virtualMachineInstances/default"
	if vmi, err := s.store.get(vmiID); err != nil || vmi != nil {
		if err != nil {
			return err
		}
		return conflict("the Arc machine %s has a virtual machine instance: delete %s first", rec.Resource.ID, vmiID)
	}
	rcs, err := s.store.list(c.machineID(c.name) + "/runCommands")
	if err != nil {
		return err
	}
	for _, rc := range rcs {
		if err := s.store.remove(rc.Resource.ID); err != nil {
			return err
		}
	}
	if err := s.store.remove(rec.Resource.ID); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusAccepted)
	return nil
}
