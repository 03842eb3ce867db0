package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// --accept-vtpm-identity, shared by plan and apply: the operator's way out of
// a vtpm-state-lost finding. It is deliberately not a watch flag: a daemon
// started with it would silently accept a later, real loss of the same VM.

// acceptVTPMIdentityFlag is the help of --accept-vtpm-identity, the same for
// plan and apply.
const acceptVTPMIdentityFlag = "after a vtpm-state-lost finding for `vm/NAME`, and only once its vTPM secrets were recovered (BitLocker unlocked with its recovery keys): record the VM's new vTPM identity instead of reporting the loss; the old identity is gone for good; repeatable"

// acceptVTPMIdentityHelp is the paragraph plan's and apply's long help give
// the way out of a vtpm-state-lost finding.
const acceptVTPMIdentityHelp = `A "vTPM state lost" finding (vtpm-state-lost) stays, and the VM's last verified vTPM
identity stays recorded, until an operator accepts the new identity with
--accept-vtpm-identity vm/NAME. Use it only after the secrets that were sealed to the lost
vTPM have been recovered by other means, for example BitLocker unlocked with its recovery
keys and protected again by the new vTPM: the old identity cannot come back, and accepting
tells tlreconcile to compare against the new one from now on.`

// checkAcceptVTPMIdentity checks the form of --accept-vtpm-identity values
// before any I/O.
func checkAcceptVTPMIdentity(command string, resources []string) error {
	var errs []error
	for _, r := range resources {
		name, ok := strings.CutPrefix(r, "vm/")
		if !ok || name == "" || strings.Contains(name, "/") {
			errs = append(errs, fmt.Errorf("%s: --accept-vtpm-identity %q: write vm/NAME, the resource of the vtpm-state-lost finding", command, r))
		}
	}
	return errors.Join(errs...)
}

// vtpmAcceptances are --accept-vtpm-identity values resolved to their
// clusters through the desired state.
type vtpmAcceptances []struct{ cluster, name string }

// resolveVTPMAcceptances resolves vm/NAME values through d (VM names are
// unique across clusters). A VM the YAML does not declare is an error: the
// planner reports vtpm-state-lost only for declared VMs.
func resolveVTPMAcceptances(command string, d *spec.Desired, resources []string) (vtpmAcceptances, error) {
	cluster := make(map[string]string, len(d.VMs))
	for _, vm := range d.VMs {
		cluster[vm.Name] = vm.Cluster
	}
	var out vtpmAcceptances
	for _, r := range resources {
		name := strings.TrimPrefix(r, "vm/")
		c, ok := cluster[name]
		if !ok {
			return nil, fmt.Errorf("%s: --accept-vtpm-identity %s: no VM %q is declared in the YAML; name the resource of a vtpm-state-lost finding", command, r, name)
		}
		out = append(out, struct{ cluster, name string }{c, name})
	}
	return out, nil
}

// keys are the VM keys (drivers.Resource.Key) of the accepted VMs
// (plan.Acceptances.WithOperator).
func (a vtpmAcceptances) keys() []string {
	out := make([]string, 0, len(a))
	for _, v := range a {
		out = append(out, drivers.VMResource(v.cluster, v.name).Key())
	}
	return out
}

// report tells the operator, before the plan, what accepting does for each
// VM: which identity replaces which, or why there is nothing to accept.
func (a vtpmAcceptances) report(w io.Writer, observed map[string]*drivers.Observed) {
	for _, v := range a {
		var vm *drivers.VM
		if o := observed[v.cluster]; o != nil {
			for i := range o.VMs {
				if o.VMs[i].Name == v.name {
					vm = &o.VMs[i]
				}
			}
		}
		msg := "nothing to accept: the VM does not exist yet or tlreconcile does not manage it"
		switch {
		case vm == nil || vm.Annotations == nil:
		case vm.VTPMIdentity == "":
			msg = fmt.Sprintf("nothing accepted yet: the vTPM identity cannot be read on node %s (its IgvmAgent cannot unlock the vTPM); run again once it can", vm.Node)
		case vm.Annotations.VTPMIdentity == "" || vm.Annotations.VTPMIdentity == vm.VTPMIdentity:
			msg = "nothing to accept: the vTPM identity is the one last verified"
		default:
			msg = fmt.Sprintf("recording the new vTPM identity %s in place of %s (last verified on node %s); whatever was sealed to the old vTPM and not recovered is lost for good",
				drivers.Identity(vm.VTPMIdentity).Short(), drivers.Identity(vm.Annotations.VTPMIdentity).Short(), vm.Annotations.Node)
		}
		fmt.Fprintf(w, "vm/%s: --accept-vtpm-identity: %s\n", v.name, msg)
	}
}
