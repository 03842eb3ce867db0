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
	n := 0
	for _, c := range p.Changes {
		n += len(c.Steps)
	}
	ids := make([]string, 0, n)
	deps := make([][]string, 0, n)
	index := make(map[string]int, n)
	for _, c := range p.Changes {
		for _, s := range c.Steps {
			if _, dup := index[s.ID]; dup {
				return nil, fmt.Errorf("plan: step id %s is used twice; the plan file is damaged — plan again", s.ID)
			}
			index[s.ID] = len(ids)
			ids = append(ids, s.ID)
			deps = append(deps, s.DependsOn)
		}
	}
	indeg := make([]int, n)
	users := make([][]int, n)
	for i := range ids {
		for _, d := range deps[i] {
			j, ok := index[d]
			if !ok {
				return nil, &UnknownDependencyError{Step: ids[i], DependsOn: d}
			}
			indeg[i]++
			users[j] = append(users[j], i)
		}
	}
	ready := &idHeap{ids: ids}
	for i := range ids {
		if indeg[i] == 0 {
			ready.items = append(ready.items, i)
		}
	}
	heap.Init(ready)
	out := make([]string, 0, n)
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		out = append(out, ids[i])
		for _, u := range users[i] {
			indeg[u]--
			if indeg[u] == 0 {
				heap.Push(ready, u)
			}
		}
	}
	if len(out) == n {
		return out, nil
	}
	cyc := &CycleError{}
	for i := range ids {
		if indeg[i] == 0 {
			continue
		}
		for _, d := range deps[i] {
			if indeg[index[d]] > 0 {
				cyc.Edges = append(cyc.Edges, [2]string{ids[i], d})
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

// idHeap is a min-heap of step indexes ordered by step ID.
type idHeap struct {
	ids   []string
	items []int
}

func (h *idHeap) Len() int           { return len(h.items) }
func (h *idHeap) Less(i, j int) bool { return h.ids[h.items[i]] < h.ids[h.items[j]] }
func (h *idHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *idHeap) Push(x any)         { h.items = append(h.items, x.(int)) }
func (h *idHeap) Pop() any {
	old := h.items
	x := old[len(old)-1]
	h.items = old[:len(old)-1]
	return x
}
