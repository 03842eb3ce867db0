package arm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/sim/simfs"
)

// Admin is the simulated ARM's state dir as an incident command in another
// process sees it: it injects faults a running Server obeys and deletes
// resources out of band, as someone in the Azure portal would, without
// serving anything or creating TLS material. Every change takes the locks the
// Server takes, so it is safe while a Server and a client run.
type Admin struct {
	srv *Server // a Server that never starts: its store and fault file only
}

// OpenAdmin returns the Admin of the simulated ARM under stateDir/arm.
func OpenAdmin(stateDir string) *Admin {
	return &Admin{srv: &Server{store: &store{root: filepath.Join(stateDir, "arm")}}}
}

// ErrNoMachine is returned by PortalDelete for an Arc machine ARM does not have.
var ErrNoMachine = errors.New("no such Arc machine in the simulated ARM")

// maxFaultLatency bounds an injected latency: longer only hangs the client.
const maxFaultLatency = 10 * time.Minute

// Operations lists the operationIds of the requests the sim serves, sorted:
// the values a Fault's Operation may take besides "*".
func Operations() []string {
	out := []string{"OperationStatus_Get"}
	for _, k := range kinds() {
		list := "List"
		if k == kindMachine {
			list = "ListByResourceGroup"
		}
		out = append(out, k.opPrefix+"_Get", k.opPrefix+"_CreateOrUpdate", k.opPrefix+"_Delete", k.opPrefix+"_"+list)
		if k == kindMachine || k == kindVMI {
			out = append(out, k.opPrefix+"_Update")
		}
		if k == kindVMI {
			out = append(out, k.opPrefix+"_Start", k.opPrefix+"_Stop", k.opPrefix+"_Restart")
		}
	}
	slices.Sort(out)
	return out
}

// runCommandPut is the operation that starts a run command.
const runCommandPut = "MachineRunCommands_CreateOrUpdate"

// ValidateFault checks a fault before it is injected: a known operation (or
// "*"), at least one effect, no negative count or duration, a 5xx status,
// an output limit only where a run command starts.
// It returns f with the operation spelt as the spec spells it.
func ValidateFault(f Fault) (Fault, error) {
	if f.Operation != "*" {
		i := slices.IndexFunc(Operations(), func(op string) bool { return strings.EqualFold(op, f.Operation) })
		if i < 0 {
			return f, fmt.Errorf("arm fault: operation %q is not one the simulated ARM serves; use * or one of: %s", f.Operation, strings.Join(Operations(), ", "))
		}
		f.Operation = Operations()[i]
	}
	switch {
	case f.Latency < 0 || f.RetryAfter < 0 || f.Throttle < 0 || f.Transient < 0 || f.FailAsync < 0 || f.OutputLimit < 0:
		return f, errors.New("arm fault: counts and durations cannot be negative")
	case f.Latency > maxFaultLatency:
		return f, fmt.Errorf("arm fault: latency %s is over %s: a client would give up first", f.Latency, maxFaultLatency)
	case f.Status != 0 && (f.Status < 500 || f.Status > 599):
		return f, fmt.Errorf("arm fault: status %d: a transient failure is a 5xx status (500-599); throttling (429) has its own count", f.Status)
	case f.Status != 0 && f.Transient == 0:
		return f, errors.New("arm fault: a status needs a count of transient failures to answer with it")
	case f.RetryAfter != 0 && f.Throttle == 0:
		return f, errors.New("arm fault: Retry-After needs a count of throttled requests to send it with")
	case f.OutputLimit > 0 && f.Operation != "*" && f.Operation != runCommandPut:
		return f, fmt.Errorf("arm fault: an output limit applies to the run commands a request starts: use --operation %s", runCommandPut)
	case f.spent():
		return f, errors.New("arm fault: the fault does nothing: give a latency, an output limit, or a count of throttled, transient or failed operations")
	}
	return f, nil
}

// InjectFault validates f and adds it to the faults every Server on the
// state dir applies from its next request.
func (a *Admin) InjectFault(f Fault) (Fault, error) {
	f, err := ValidateFault(f)
	if err != nil {
		return f, err
	}
	if err := a.mkdir(); err != nil {
		return f, err
	}
	return f, a.srv.Inject(f)
}

// mkdir creates the ARM state dir, which a fault may precede (staged
// before the first sim serve).
func (a *Admin) mkdir() error {
	if err := os.MkdirAll(a.srv.store.root, 0o700); err != nil {
		return fmt.Errorf("arm: %w", err)
	}
	return nil
}

// ClearFaults removes every injected fault and returns how many there were.
func (a *Admin) ClearFaults() (int, error) {
	if err := a.mkdir(); err != nil {
		return 0, err
	}
	n := 0
	err := a.srv.updateFaults(func(fs []Fault) []Fault { n = len(fs); return nil })
	return n, err
}

// Faults returns the faults still in effect.
func (a *Admin) Faults() ([]Fault, error) { return a.srv.Faults() }

// Machine is one Arc machine ARM holds, with the Hyper-V VM ID of its
// virtual machine instance ("" when it has none or its create did not place
// a VM).
type Machine struct {
	ID   string
	Name string
	VMID string
}

// Machines lists every Arc machine of every subscription and resource group,
// sorted by ID.
func (a *Admin) Machines() ([]Machine, error) {
	pattern := filepath.Join(a.srv.store.root, "resources", "subscriptions", "*", "resourcegroups", "*",
		"providers", strings.ToLower(nsCompute), "machines", "*", resourceFile)
	files, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	var out []Machine
	for _, f := range files {
		var rec record
		ok, err := simfs.ReadJSON(f, &rec)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		m := Machine{ID: rec.Resource.ID, Name: rec.Resource.Name}
		vmi, err := a.srv.store.get(vmiOf(m.ID))
		if err != nil {
			return nil, err
		}
		if vmi != nil {
			m.VMID, _ = vmi.Resource.Properties["vmId"].(string)
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(x, y Machine) int { return strings.Compare(x.ID, y.ID) })
	return out, nil
}

func vmiOf(machineID string) string {
	return machineID + "/providers/" + nsHCI + "/" + kindVMI.segment + "/default"
}

// PortalDeleted is what PortalDelete removed.
type PortalDeleted struct {
	MachineID   string
	VMID        string // the VM deleted on the cluster; "" when there was none
	Instance    bool   // the machine had a virtual machine instance
	RunCommands int
	Canceled    int // long-running operations that were still running on them
}

// PortalDelete deletes an Arc machine's VM as the Azure portal's Delete does,
// behind the back of any client: the VM on the cluster (through host, with
// its state files and key), then its virtual machine instance, its run
// commands and the machine. Network interfaces and disks stay, as the portal
// leaves them. It holds the resource group's lock, as every ARM write does,
// so a request in flight sees the resources before or after, never half; an
// operation still running on them ends Failed (code ResourceDeleted), so a
// client polling it learns the resource is gone. When the cluster refuses
// the delete (an agent does not run) nothing changes in ARM either.
func (a *Admin) PortalDelete(ctx context.Context, host Host, machineID string) (PortalDeleted, error) {
	out := PortalDeleted{MachineID: machineID}
	segs := strings.Split(strings.Trim(machineID, "/"), "/")
	if !isMachineID(segs) {
		return out, fmt.Errorf("portal delete: %q is not an Arc machine ID (/subscriptions/SUB/resourceGroups/RG/providers/%s/machines/NAME)", machineID, nsCompute)
	}
	s := a.srv.store
	unlock, err := s.lockGroup(segs[1], segs[3])
	if err != nil {
		return out, err
	}
	defer unlock()
	machine, err := s.get(machineID)
	if err != nil {
		return out, err
	}
	if machine == nil {
		return out, fmt.Errorf("portal delete: %s: %w", machineID, ErrNoMachine)
	}
	out.MachineID = machine.Resource.ID
	vmi, err := s.get(vmiOf(machine.Resource.ID))
	if err != nil {
		return out, err
	}
	if vmi != nil {
		out.Instance = true
		if out.VMID, err = a.deleteOnCluster(ctx, host, vmi); err != nil {
			return out, err
		}
	}
	rcs, err := s.list(machine.Resource.ID + "/" + kindRunCommand.segment)
	if err != nil {
		return out, err
	}
	out.RunCommands = len(rcs)
	for _, rec := range append(append(rcs, vmi), machine) {
		if rec == nil {
			continue
		}
		if err := a.removeRecord(rec, &out.Canceled); err != nil {
			return out, err
		}
	}
	return out, nil
}

// isMachineID: /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.HybridCompute/machines/NAME,
// with no segment that could leave the state dir.
func isMachineID(segs []string) bool {
	if len(segs) != 8 || !eq(segs[0], "subscriptions") || !eq(segs[2], "resourceGroups") ||
		!eq(segs[4], "providers") || !eq(segs[5], nsCompute) || !eq(segs[6], "machines") || !validName.MatchString(segs[7]) {
		return false
	}
	for _, seg := range []string{segs[1], segs[3]} {
		if seg == "" || strings.HasPrefix(seg, ".") || strings.ContainsAny(seg, `\`) {
			return false
		}
	}
	return true
}

// deleteOnCluster deletes the VM of vmi on the cluster; a VM the cluster no
// longer has is already deleted.
func (a *Admin) deleteOnCluster(ctx context.Context, host Host, vmi *record) (string, error) {
	id, _ := vmi.Resource.Properties["vmId"].(string)
	if id == "" {
		return "", nil
	}
	err := host.DeleteVM(ctx, id)
	if errors.Is(err, ErrNoVM) {
		return id, nil
	}
	if err != nil {
		return "", fmt.Errorf("portal delete: %s: the cluster refused to delete VM %s: %w", vmi.Resource.ID, id, err)
	}
	return id, nil
}

// removeRecord removes rec, first failing the operation still running on it.
func (a *Admin) removeRecord(rec *record, canceled *int) error {
	if rec.Op != "" {
		op, err := a.srv.loadOp(rec.Op)
		if err != nil {
			return err
		}
		if op != nil && op.Status == opInProgress {
			end := time.Now().UTC()
			op.Status, op.EndTime = opFailed, &end
			op.Error = &errorBody{Code: "ResourceDeleted", Message: fmt.Sprintf(
				"the resource %s was deleted (in the portal) while this operation ran; create it again if it is still wanted", rec.Resource.ID)}
			if err := simfs.WriteJSON(a.srv.store.opPath(op.ID), op); err != nil {
				return err
			}
			*canceled++
		}
	}
	return a.srv.store.remove(rec.Resource.ID)
}
