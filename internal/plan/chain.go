package plan

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// chain appends a VM's steps so that each depends on the one before it: the
// per-VM order of DESIGN §5 as data.
type chain struct {
	ch      *Change
	prefix  string
	cluster string
	vm      string
	last    string
	count   []opCount // a handful of ops per VM: a slice beats a map
}

type opCount struct {
	kind drivers.OpKind
	n    int
}

func (b *builder) newChain(ch *Change, vm string) *chain {
	return &chain{
		ch:      ch,
		prefix:  b.stepPrefix(ch.Cluster, ch.Resource),
		cluster: ch.Cluster,
		vm:      vm,
	}
}

func (k *chain) id(kind drivers.OpKind) string {
	n := 1
	found := false
	for i := range k.count {
		if k.count[i].kind == kind {
			k.count[i].n++
			n, found = k.count[i].n, true
			break
		}
	}
	if !found {
		k.count = append(k.count, opCount{kind: kind, n: 1})
	}
	id := k.prefix + "/" + string(kind)
	if n > 1 {
		id += "-" + strconv.Itoa(n)
	}
	return id
}

// add appends s after the previous step; s.DependsOn may hold extra
// dependencies (node steps). It returns the step's index in the change.
func (k *chain) add(kind drivers.OpKind, params *drivers.Params, s Step) int {
	s.ID = k.id(kind)
	s.Op = drivers.Op{Kind: kind, Cluster: k.cluster, VM: k.vm, Params: params}
	deps := s.DependsOn
	s.DependsOn = make([]string, 0, 1+len(deps))
	if k.last != "" {
		s.DependsOn = append(s.DependsOn, k.last)
	}
	for _, d := range deps {
		if d != "" {
			s.DependsOn = append(s.DependsOn, d)
		}
	}
	sort.Strings(s.DependsOn)
	if k.ch.Steps == nil {
		k.ch.Steps = make([]Step, 0, 8)
	}
	k.ch.Steps = append(k.ch.Steps, s)
	k.last = s.ID
	return len(k.ch.Steps) - 1
}

// addPending appends a step a rule decided.
func (k *chain) addPending(p pending) int { return k.add(p.kind, p.params, p.step) }

// propagateBlocked makes the blocking of a change consistent: a stop-vm is
// blocked when anything after it is (never stop a VM that this plan cannot
// finish and start again) unless stopping is the goal, and every step that
// waits for a blocked step is blocked too.
func propagateBlocked(ch *Change, stopIsGoal bool) {
	if !stopIsGoal {
		for i := range ch.Steps {
			if ch.Steps[i].Kind != drivers.OpStopVM || ch.Steps[i].Blocked != nil {
				continue
			}
			for j := i + 1; j < len(ch.Steps); j++ {
				if b := ch.Steps[j].Blocked; b != nil {
					ch.Steps[i].Blocked = &Blocked{Code: BlockWouldLeaveOff, By: ch.Steps[j].ID,
						Reason: fmt.Sprintf("the VM would be left Off: %s is blocked (%s)", ch.Steps[j].ID, b.Reason)}
					break
				}
			}
		}
	}
	blocked := map[string]bool{}
	for i := range ch.Steps {
		s := &ch.Steps[i]
		if s.Blocked == nil {
			for _, d := range s.DependsOn {
				if blocked[d] {
					s.Blocked = &Blocked{Code: BlockWaitsForBlocked, By: d, Reason: "waits for blocked step " + d}
					break
				}
			}
		}
		if s.Blocked != nil {
			blocked[s.ID] = true
		}
	}
}

// blockDestructive blocks every destructive step of ch (and, through
// propagateBlocked, the stop before it and what waits for it), so that a run
// that may not destroy anything still carries out the rest of the plan.
func blockDestructive(ch *Change) {
	blocked := false
	for i := range ch.Steps {
		s := &ch.Steps[i]
		if s.Destructive && s.Blocked == nil {
			s.Blocked = block(BlockDestructive, fmt.Sprintf("%s is destructive (vTPM secrets such as BitLocker keys, or the VM, would be lost) and this run may not destroy anything; review it with tlreconcile plan and apply it with --allow-destructive", s.ID))
			blocked = true
		}
	}
	if blocked {
		propagateBlocked(ch, ch.Expect != nil && ch.Expect.Power == drivers.PowerOff)
	}
}
