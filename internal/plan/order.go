package plan

import (
	"container/heap"
	"fmt"
	"sort"
	"strings"
)

// CycleError is returned when steps depend on each other in a circle. Edges
// lists every dependency among the steps that could not be ordered, as
// [step, depends-on] pairs sorted by step.
type CycleError struct {
	Edges [][2]string
}

func (e *CycleError) Error() string {
	parts := make([]string, len(e.Edges))
	for i, ed := range e.Edges {
		parts[i] = ed[0] + " -> " + ed[1]
	}
	return fmt.Sprintf("plan: steps depend on each other in a cycle (%s); the plan cannot be ordered — plan again, and report a bug if a fresh plan has this", strings.Join(parts, ", "))
}

// UnknownDependencyError is returned when a step depends on a step the plan does not have.
type UnknownDependencyError struct {
	Step, DependsOn string
}

func (e *UnknownDependencyError) Error() string {
	return fmt.Sprintf("plan: step %s depends on unknown step %s; the plan file is damaged — plan again", e.Step, e.DependsOn)
}

// Order returns the IDs of every step of p in an order that respects
// depends_on, ties broken by ID, so the result never depends on input order.
func Order(p *Plan) ([]string, error) {
	deps := map[string][]string{}
	var ids []string
	for _, c := range p.Changes {
		for _, s := range c.Steps {
			if _, dup := deps[s.ID]; dup {
				return nil, fmt.Errorf("plan: step id %s is used twice; the plan file is damaged — plan again", s.ID)
			}
			deps[s.ID] = s.DependsOn
			ids = append(ids, s.ID)
		}
	}
	indeg := make(map[string]int, len(ids))
	users := map[string][]string{}
	for _, id := range ids {
		for _, d := range deps[id] {
			if _, ok := deps[d]; !ok {
				return nil, &UnknownDependencyError{Step: id, DependsOn: d}
			}
			indeg[id]++
			users[d] = append(users[d], id)
		}
	}
	ready := &idHeap{}
	for _, id := range ids {
		if indeg[id] == 0 {
			*ready = append(*ready, id)
		}
	}
	heap.Init(ready)
	out := make([]string, 0, len(ids))
	for ready.Len() > 0 {
		id := heap.Pop(ready).(string)
		out = append(out, id)
		for _, u := range users[id] {
			indeg[u]--
			if indeg[u] == 0 {
				heap.Push(ready, u)
			}
		}
	}
	if len(out) == len(ids) {
		return out, nil
	}
	cyc := &CycleError{}
	for _, id := range ids {
		if indeg[id] == 0 {
			continue
		}
		for _, d := range deps[id] {
			if indeg[d] > 0 {
				cyc.Edges = append(cyc.Edges, [2]string{id, d})
			}
		}
	}
	sort.Slice(cyc.Edges, func(i, j int) bool {
		if cyc.Edges[i][0] != cyc.Edges[j][0] {
			return cyc.Edges[i][0] < cyc.Edges[j][0]
		}
		return cyc.Edges[i][1] < cyc.Edges[j][1]
	})
	return nil, cyc
}

type idHeap []string

func (h idHeap) Len() int           { return len(h) }
func (h idHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h idHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *idHeap) Push(x any)        { *h = append(*h, x.(string)) }
func (h *idHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
