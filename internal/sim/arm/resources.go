package arm

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"time"
)

// validName is what every resource name of the served types matches (the
// spec's patterns are at least this strict); it also keeps names from
// escaping the state dir.
var validName = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,79}$`)

func (s *Server) dispatch(c *call) {
	if c.opStatus != "" {
		s.serveOperation(c)
		return
	}
	for _, n := range []string{c.machine, c.name} {
		if n != "" && !validName.MatchString(n) {
			writeError(c.w, badRequest("InvalidResourceName", "the resource name %q is invalid: use letters, digits, '-', '_' and '.', starting with a letter or digit", n))
			return
		}
	}
	var err error
	switch {
	case c.r.Method == http.MethodGet && c.name == "":
		err = s.list(c)
	case c.r.Method == http.MethodGet:
		err = s.get(c)
	case c.r.Method == http.MethodPut && c.kind == kindMachine:
		err = s.putMachine(c)
	case c.r.Method == http.MethodPut:
		err = s.put(c)
	case c.r.Method == http.MethodPatch && c.kind == kindMachine:
		err = s.patchMachine(c)
	case c.r.Method == http.MethodPatch && c.kind == kindVMI:
		err = s.patchVMI(c)
	case c.r.Method == http.MethodPatch:
		err = s.patchTags(c)
	case c.r.Method == http.MethodDelete && c.kind == kindMachine:
		err = s.deleteMachine(c)
	case c.r.Method == http.MethodDelete:
		err = s.delete(c)
	case c.r.Method == http.MethodPost:
		err = s.vmiAction(c)
	}
	if err != nil {
		writeError(c.w, asARM(err))
	}
}

// checkParent answers ParentResourceNotFound for a nested resource whose
// Arc machine does not exist, and returns the machine.
func (s *Server) checkParent(c *call) (*record, error) {
	pid := c.parentID()
	if pid == "" {
		return nil, nil
	}
	m, err := s.store.get(pid)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, parentNotFound(pid)
	}
	return m, nil
}

func (s *Server) notFound(c *call) *armError {
	return notFound(c.kind.typ, c.name, c.rg)
}

func (s *Server) get(c *call) error {
	if _, err := s.checkParent(c); err != nil {
		return err
	}
	rec, err := s.store.get(c.resourceID())
	if err == nil {
		rec, err = s.settleRecord(c.r.Context(), rec)
	}
	if err != nil {
		return err
	}
	if rec == nil {
		return s.notFound(c)
	}
	writeJSON(c.w, http.StatusOK, rec.Resource)
	return nil
}

// decodeBody reads a JSON request body into v.
func decodeBody(c *call, v any) error {
	if err := json.NewDecoder(c.r.Body).Decode(v); err != nil {
		return badRequest("InvalidRequestContent", "the request content is not valid JSON for this resource: %v", err)
	}
	return nil
}

// lockedCurrent settles the operation pending on the call's resource, then
// takes the resource group's lock and returns the resource as it now is,
// refusing with 409 while an operation still runs on it.
func (s *Server) lockedCurrent(c *call) (rec *record, unlock func(), err error) {
	rec, err = s.store.get(c.resourceID())
	if err == nil {
		_, err = s.settleRecord(c.r.Context(), rec)
	}
	if err != nil {
		return nil, nil, err
	}
	if unlock, err = s.store.lockGroup(c.sub, c.rg); err != nil {
		return nil, nil, err
	}
	if rec, err = s.store.get(c.resourceID()); err == nil && rec != nil && rec.Op != "" {
		err = conflict("the resource %s has an operation in progress (%s): retry when it has finished", c.resourceID(), rec.Op)
	}
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return rec, unlock, nil
}

// newRecord builds the record a PUT stores from the client's body: the
// server's id, name and type, the read-only properties kept from old (the
// client cannot set them), systemData.
func (s *Server) newRecord(c *call, res resource, old *record) *record {
	res.ID, res.Name, res.Type = c.resourceID(), c.name, c.kind.typ
	if res.Properties == nil {
		res.Properties = map[string]any{}
	}
	for _, k := range c.kind.readOnly {
		delete(res.Properties, k)
		if old != nil {
			if v, ok := old.Resource.Properties[k]; ok {
				res.Properties[k] = v
			}
		}
	}
	if !c.kind.tracked {
		res.Location, res.Tags = "", nil
	}
	now := time.Now().UTC()
	sd := &systemData{CreatedBy: c.claims.ClientID, CreatedByType: "Application", CreatedAt: now}
	if old != nil && old.Resource.SystemData != nil {
		sd = old.Resource.SystemData
	}
	sd.LastModifiedBy, sd.LastModifiedByType, sd.LastModifiedAt = c.claims.ClientID, "Application", now
	res.SystemData = sd
	rec := &record{Resource: res}
	if old != nil {
		rec.Node = old.Node
	}
	return rec
}

// put is the PUT of every long-running type: validate, store Accepted, start
// the operation, answer 201 (create) or 200 (update) with Azure-AsyncOperation.
func (s *Server) put(c *call) error {
	var res resource
	if err := decodeBody(c, &res); err != nil {
		return err
	}
	if _, err := s.checkParent(c); err != nil {
		return err
	}
	old, unlock, err := s.lockedCurrent(c)
	if err != nil {
		return err
	}
	defer unlock()
	if c.kind.tracked && res.Location == "" {
		return badRequest("LocationRequired", "the location property is required for this definition: set location (e.g. %q)", s.opts.Location)
	}
	if verr := rulesOf(c.kind).validate(s, c, &res, old); verr != nil {
		return verr
	}
	rec := s.newRecord(c, res, old)
	action, status := actCreate, http.StatusCreated
	if old != nil {
		action, status = actUpdate, http.StatusOK
	}
	rec.Resource.Properties["provisioningState"] = "Accepted"
	return s.respondAccepted(c, rec, action, status)
}

// respondAccepted starts action's operation on rec, stores rec and answers
// status with the resource body (PUT, PATCH) or none (202).
func (s *Server) respondAccepted(c *call, rec *record, action string, status int) error {
	op, err := s.startOp(c, rec, action)
	if err != nil {
		return err
	}
	if err := s.step("accept"); err != nil {
		return err
	}
	if err := s.store.put(rec); err != nil {
		return err
	}
	s.acceptedHeaders(c, op, status == http.StatusAccepted)
	if status == http.StatusAccepted {
		c.w.WriteHeader(status)
		return nil
	}
	writeJSON(c.w, status, rec.Resource)
	return nil
}

// delete is the DELETE of every long-running type: 202 with Location and
// Azure-AsyncOperation, 204 when there is nothing to delete.
func (s *Server) delete(c *call) error {
	rec, unlock, err := s.lockedCurrent(c)
	if err != nil {
		return err
	}
	defer unlock()
	if rec == nil {
		c.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if c.kind == kindMachine {
		return errors.New("arm: machines are deleted synchronously")
	}
	rec.Resource.Properties["provisioningState"] = "Deleting"
	return s.respondAccepted(c, rec, actDelete, http.StatusAccepted)
}
