package drivertest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// The suite follows the driver's Profile (drivers.ProfileOf), never its name:
//
//   - where the security profile is fixed at create (Profile.CreateOnly has
//     the vTPM: Azure Local), a trusted-launch VM is one create-vm whose
//     params carry SecurityType TrustedLaunch, SecureBoot and VTPM, an image
//     and its annotations; otherwise (classic Hyper-V) it is create-vm, then
//     ensure-key-protector and enable-tpm;
//   - where create-vm starts the VM (Profile.CreateStarts), the VM is Running
//     after it;
//   - the platform's own VMs (VM.Infrastructure: Azure Local's Arc resource
//     bridge) are on every cluster: "empty" means no other VM, and every
//     scenario ends with them observed as they were at its start.

// wholeCreate reports whether the platform's security profile travels with
// create-vm (it is fixed at create), as the planner decides it.
func (e *env) wholeCreate() bool { return e.prof.IsCreateOnly(drivers.SettingVTPM) }

// testImage is the Marketplace image the suite's VMs are made from.
var testImage = drivers.Image{Publisher: "microsoftwindowsdesktop", Offer: "windows-11", Sku: "win11-22h2-avd", Version: "22621.2428.231001"}

// specHash is a spec hash as the planner writes one (hex sha256), made from s
// so that a test can tell VMs apart by it.
func specHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// tlParams are the create-vm params of a trusted-launch VM on this
// platform. On a classic platform they are what is given; on a whole-create
// platform they carry the security profile and an image too, and a VM is
// managed from birth there (a nil ann is a record of a new VM, zero
// hardware is 2 processors and 2048 MB).
func (e *env) tlParams(node string, processors int, memoryMB int64, ann *drivers.Annotations) *drivers.Params {
	p := &drivers.Params{Generation: 2, SecurityType: drivers.SecurityTrustedLaunch, Processors: processors, MemoryMB: memoryMB,
		TargetNode: node, Annotations: ann}
	if e.wholeCreate() {
		img := testImage
		p.Image, p.SecureBoot, p.VTPM = &img, drivers.Bool(true), drivers.Bool(true)
		if p.Annotations == nil {
			p.Annotations = &drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: specHash("new")}
		}
		if p.Processors == 0 {
			p.Processors, p.MemoryMB = 2, 2048
		}
	}
	return p
}

// createWholeTL creates a trusted-launch VM with one create-vm, puts it on
// node (the platform places a new VM itself; a live migration moves it
// where the scenario wants it) and stops it, so that it is Off on node as
// createTL leaves it on every platform.
func (e *env) createWholeTL(name, node string) {
	e.t.Helper()
	e.applyChanged(e.op(drivers.OpCreateVM, name, e.tlParams(node, 2, 2048,
		&drivers.Annotations{ManagedBy: drivers.ManagedBy, SpecHash: specHash(name)})))
	e.placeOn(name, node)
	if e.prof.CreateStarts {
		e.applyChanged(e.op(drivers.OpStopVM, name, nil))
	}
}

// placeOn moves the VM to node unless it is there already.
func (e *env) placeOn(name, node string) {
	e.t.Helper()
	if v := e.vm(name); v.Node != node {
		e.applyChanged(e.op(drivers.OpMoveVM, name, &drivers.Params{TargetNode: node, MigrationType: "Live"}))
	}
}

// other is a node of the cluster other than node.
func (e *env) other(node string) string {
	if e.node(0) == node {
		return e.node(1)
	}
	return e.node(0)
}

// tenants are the VMs of obs that are not the platform's own.
func tenants(obs *drivers.Observed) []drivers.VM {
	out := []drivers.VM{}
	for _, v := range obs.VMs {
		if !v.Infrastructure {
			out = append(out, v)
		}
	}
	return out
}

// infrastructure are the platform's own VMs of obs.
func infrastructure(obs *drivers.Observed) []drivers.VM {
	var out []drivers.VM
	for _, v := range obs.VMs {
		if v.Infrastructure {
			out = append(out, v)
		}
	}
	return out
}

// keepInfrastructure checks, when the scenario ends, that the platform's own
// VMs are still there as they were at its start: no scenario may change
// them, whatever it did to the cluster.
func (e *env) keepInfrastructure(start *drivers.Observed) {
	want := infrastructure(start)
	e.t.Cleanup(func() {
		if e.t.Failed() && len(want) == 0 {
			return
		}
		obs, err := e.d.Observe(context.Background(), e.ref) // t.Context is done by now
		if err != nil {
			e.t.Errorf("infrastructure check: observe %s at the end of the scenario: %v", e.ref.Name, err)
			return
		}
		got := infrastructure(obs)
		if len(got) != len(want) {
			e.t.Errorf("infrastructure VMs at the end of the scenario: %d, want the %d it started with (%v)", len(got), len(want), names(want))
			return
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.Name != w.Name || g.ID != w.ID || g.Power != w.Power || g.Annotations != nil {
				e.t.Errorf("infrastructure VM %s changed during the scenario: %+v, was %+v", w.Name, g, w)
			}
		}
	})
}

func names(vms []drivers.VM) []string {
	out := make([]string, 0, len(vms))
	for _, v := range vms {
		out = append(out, v.Name)
	}
	return out
}
