package arm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/sim/simfs"
)

// Operation statuses, as ARM's operation status resource reports them.
const (
	opInProgress = "InProgress"
	opSucceeded  = "Succeeded"
	opFailed     = "Failed"
)

// Actions a long-running operation carries out.
const (
	actCreate  = "create"
	actUpdate  = "update"
	actDelete  = "delete"
	actStart   = "start"
	actStop    = "stop"
	actRestart = "restart"
)

// operation is a long-running operation, kept as a file so that any process
// on the state dir can report and complete it. It completes lazily: the first
// read of its status (or of its resource) after ReadyAt finishes it, calling
// the Host then, so a process killed mid-operation leaves it to the next one.
//
// Writes are ordered so that a kill at any point leaves a state the next
// reader completes (issue 10 item 7). Accepting: the operation file first,
// then the resource naming it (a kill between leaves an operation nothing
// names, which its next reader fails as interrupted). Completing, under the
// resource group's lock: the Host calls, then the operation file with its
// terminal status and Result, the resource as the operation leaves it (the
// commit point), then the resource itself. A kill before the commit repeats
// the Host calls on the next reader, so they must be idempotent (Host says
// which are); a kill after it leaves a resource still naming a finished
// operation, which the next reader rolls forward to Result.
type operation struct {
	ID         string     `json:"id"`
	Sub        string     `json:"subscription"`
	RG         string     `json:"resourceGroup"`
	Namespace  string     `json:"namespace"`
	ResourceID string     `json:"resourceId"`
	Kind       string     `json:"kind"`
	Action     string     `json:"action"`
	Status     string     `json:"status"`
	StartTime  time.Time  `json:"startTime"`
	EndTime    *time.Time `json:"endTime,omitempty"`
	ReadyAt    time.Time  `json:"readyAt"`
	Fail       bool       `json:"fail,omitempty"` // an injected FailAsync fault
	// OutputLimit is an injected run command output limit (Fault.OutputLimit).
	OutputLimit int        `json:"outputLimit,omitempty"`
	Error       *errorBody `json:"error,omitempty"`
	// Result is the resource as the finished operation leaves it; Removed
	// says a delete succeeded and the resource goes.
	Result  *record `json:"result,omitempty"`
	Removed bool    `json:"removed,omitempty"`
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// startOp records a new operation on rec (the caller holds the group lock and
// writes rec after).
func (s *Server) startOp(c *call, rec *record, action string) (*operation, error) {
	now := time.Now().UTC()
	op := &operation{ID: newID(), Sub: c.sub, RG: c.rg, Namespace: c.ns, ResourceID: rec.Resource.ID,
		Kind: c.kind.segment, Action: action, Status: opInProgress, StartTime: now,
		ReadyAt: now.Add(s.opts.OperationDelay), Fail: c.eff.failAsync, OutputLimit: c.eff.outputLimit}
	rec.Op = op.ID
	return op, simfs.WriteJSON(s.store.opPath(op.ID), op)
}

func (s *Server) opURL(c *call, op *operation, collection string) string {
	ver := StackHCIAPIVersion
	if op.Namespace == nsCompute {
		ver = HybridComputeAPIVersion
	}
	return fmt.Sprintf("%s/subscriptions/%s/providers/%s/locations/%s/%s/%s?api-version=%s",
		baseURLOf(c.r), op.Sub, op.Namespace, s.opts.Location, collection, op.ID, ver)
}

// acceptedHeaders sets the headers of an LRO's first answer: Azure-AsyncOperation
// always, Location too for DELETE and POST actions (withLocation).
func (s *Server) acceptedHeaders(c *call, op *operation, withLocation bool) {
	c.w.Header().Set("Azure-AsyncOperation", s.opURL(c, op, "operationStatuses"))
	if withLocation {
		c.w.Header().Set("Location", s.opURL(c, op, "operationResults"))
	}
}

func (s *Server) loadOp(id string) (*operation, error) {
	var op operation
	ok, err := simfs.ReadJSON(s.store.opPath(id), &op)
	if err != nil || !ok {
		return nil, err
	}
	return &op, nil
}

// settle completes op if it is due, and rolls its resource forward if a
// kill left it behind the finished operation; it returns the operation as
// it now is.
func (s *Server) settle(ctx context.Context, op *operation) (*operation, error) {
	if op.Status == opInProgress && time.Now().Before(op.ReadyAt) {
		return op, nil
	}
	if op.Status != opInProgress {
		rec, err := s.store.get(op.ResourceID)
		if err != nil || rec == nil || rec.Op != op.ID {
			return op, err
		}
	}
	unlock, err := s.store.lockGroup(op.Sub, op.RG)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if op, err = s.loadOp(op.ID); err != nil || op == nil {
		return op, err
	}
	if op.Status == opInProgress {
		if err := s.finish(ctx, op); err != nil {
			return nil, err
		}
		if err := s.step("commit"); err != nil {
			return nil, err
		}
	}
	return op, s.rollForward(op)
}

// finish carries out op on its resource and writes op finished, with the
// resource as it leaves it (the commit point); the resource itself is
// written by rollForward.
func (s *Server) finish(ctx context.Context, op *operation) error {
	rec, err := s.store.get(op.ResourceID)
	if err != nil {
		return err
	}
	end := time.Now().UTC()
	op.EndTime, op.Status = &end, opSucceeded
	switch {
	case rec == nil && op.Action == actDelete:
		// Gone another way (a machine's delete takes its run commands).
		op.Removed = true
		return simfs.WriteJSON(s.store.opPath(op.ID), op)
	case rec == nil || rec.Op != op.ID:
		op.Status, op.Error = opFailed, &errorBody{Code: "OperationInterrupted",
			Message: "the request that started this operation was interrupted before it was accepted, and nothing was changed: send it again"}
		return simfs.WriteJSON(s.store.opPath(op.ID), op)
	}
	result, ferr := s.complete(ctx, rec, op)
	if err := s.step("host"); err != nil {
		return err
	}
	op.Result, op.Removed = result, result == nil && ferr == nil
	if ferr != nil {
		e := asARM(ferr)
		op.Status, op.Error = opFailed, &errorBody{Code: e.Code, Message: e.Message}
	}
	return simfs.WriteJSON(s.store.opPath(op.ID), op)
}

// rollForward writes the resource of a finished operation as the operation
// left it, if it still names the operation.
func (s *Server) rollForward(op *operation) error {
	rec, err := s.store.get(op.ResourceID)
	if err != nil || rec == nil || rec.Op != op.ID {
		return err
	}
	switch {
	case op.Removed:
		return s.store.remove(rec.Resource.ID)
	case op.Result != nil:
		return s.store.put(op.Result)
	}
	// An operation file from before Result was kept: say how it ended.
	rec.Op = ""
	rec.Resource.Properties["provisioningState"] = op.Status
	return s.store.put(rec)
}

// complete carries out op on rec and returns the record as op leaves it,
// nil for a successful delete, with the error that failed op. It writes
// nothing but what the Host calls write.
func (s *Server) complete(ctx context.Context, rec *record, op *operation) (*record, error) {
	k := kindBySegment(op.Kind)
	var err error
	switch {
	case op.Fail:
		err = errf(http.StatusInternalServerError, "InjectedFailure", "the operation failed (an injected FailAsync fault)")
	case op.Action == actDelete:
		if rulesOf(k).onDelete != nil {
			err = rulesOf(k).onDelete(ctx, s, rec)
		}
		if err == nil {
			return nil, nil
		}
	case op.Action == actCreate || op.Action == actUpdate:
		if rulesOf(k).finish != nil {
			err = rulesOf(k).finish(ctx, s, rec, op)
		}
	default:
		err = vmiPower(ctx, s, rec, op.Action)
	}
	rec.Op = ""
	props := rec.Resource.Properties
	props["provisioningState"] = opSucceeded
	if err != nil {
		e := asARM(err)
		props["provisioningState"] = opFailed
		if k.hasStatus {
			st := statusOf(rec)
			st["errorCode"], st["errorMessage"] = e.Code, e.Message
		}
	}
	if k.hasStatus {
		st := statusOf(rec)
		if err == nil {
			delete(st, "errorCode")
			delete(st, "errorMessage")
		}
		st["provisioningStatus"] = map[string]any{"operationId": op.ID, "status": props["provisioningState"]}
	}
	return rec, err
}

// statusOf is properties.status of rec, created when absent.
func statusOf(rec *record) map[string]any {
	st, ok := rec.Resource.Properties["status"].(map[string]any)
	if !ok {
		st = map[string]any{}
		rec.Resource.Properties["status"] = st
	}
	return st
}

// settleRecord completes the operation pending on rec if it is due and
// returns the record as it now is (nil when a delete completed).
func (s *Server) settleRecord(ctx context.Context, rec *record) (*record, error) {
	if rec == nil || rec.Op == "" {
		return rec, nil
	}
	op, err := s.loadOp(rec.Op)
	if err != nil || op == nil {
		return rec, err
	}
	if op, err = s.settle(ctx, op); err != nil || op.Status == opInProgress {
		return rec, err
	}
	return s.store.get(rec.Resource.ID)
}

// serveOperation answers operationStatuses/{id} (the Azure-AsyncOperation
// URL) and operationResults/{id} (the Location URL).
func (s *Server) serveOperation(c *call) {
	op, err := s.loadOp(c.opID)
	if err == nil && (op == nil || !eq(op.Sub, c.sub) || !eq(op.Namespace, c.ns)) {
		err = errf(http.StatusNotFound, "OperationNotFound", "the operation %s was not found", c.opID)
	}
	if err == nil {
		op, err = s.settle(c.r.Context(), op)
	}
	if err != nil {
		writeError(c.w, asARM(err))
		return
	}
	if c.opStatus == "operationstatuses" {
		writeJSON(c.w, http.StatusOK, opStatusBody(c, op))
		return
	}
	s.serveOperationResult(c, op)
}

func opStatusBody(c *call, op *operation) map[string]any {
	body := map[string]any{
		"id":              c.r.URL.Path,
		"name":            op.ID,
		"resourceId":      op.ResourceID,
		"status":          op.Status,
		"startTime":       op.StartTime,
		"percentComplete": 0,
	}
	if op.EndTime != nil {
		body["endTime"], body["percentComplete"] = *op.EndTime, 100
	}
	if op.Error != nil {
		body["error"] = op.Error
	}
	return body
}

func (s *Server) serveOperationResult(c *call, op *operation) {
	switch {
	case op.Status == opInProgress:
		c.w.Header().Set("Location", s.opURL(c, op, "operationResults"))
		c.w.WriteHeader(http.StatusAccepted)
	case op.Status == opFailed:
		writeError(c.w, errf(http.StatusBadRequest, op.Error.Code, "%s", op.Error.Message))
	case op.Action == actDelete:
		c.w.WriteHeader(http.StatusNoContent)
	default:
		rec, err := s.store.get(op.ResourceID)
		if err != nil || rec == nil {
			c.w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(c.w, http.StatusOK, rec.Resource)
	}
}
