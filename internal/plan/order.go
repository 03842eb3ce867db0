package plan

import (
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
// It runs for every plan Build makes and every plan file Read checks, so a
// fleet's 70,000 steps are held in flat arrays (no slice per step, no boxed
// heap entries).
func Order(p *Plan) ([]string, error) {
	n := 0
	for _, c := range p.Changes {
		n += len(c.Steps)
	}
	ids := make([]string, 0, n)
	deps := make([][]string, 0, n)
	index := make(map[string]int32, n)
	edges := 0
	for _, c := range p.Changes {
		for _, s := range c.Steps {
			if _, dup := index[s.ID]; dup {
				return nil, fmt.Errorf("plan: step id %s is used twice; the plan file is damaged — plan again", s.ID)
			}
			index[s.ID] = int32(len(ids))
			ids = append(ids, s.ID)
			deps = append(deps, s.DependsOn)
			edges += len(s.DependsOn)
		}
	}
	indeg, users, err := dependents(ids, deps, index, edges)
	if err != nil {
		return nil, err
	}
	ready := idHeap{ids: ids}
	for i := range ids {
		if indeg[i] == 0 {
			ready.items = append(ready.items, int32(i))
		}
	}
	ready.init()
	out := make([]string, 0, n)
	for len(ready.items) > 0 {
		i := ready.pop()
		out = append(out, ids[i])
		for _, u := range users.of(i) {
			indeg[u]--
			if indeg[u] == 0 {
				ready.push(u)
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

// adjacency lists each step's dependents in one flat array: those of step
// i are at[start[i]:start[i+1]].
type adjacency struct {
	start []int32
	at    []int32
}

func (a adjacency) of(i int32) []int32 { return a.at[a.start[i]:a.start[i+1]] }

// dependents counts each step's dependencies and lists each step's
// dependents, in the order of ids and their depends_on.
func dependents(ids []string, deps [][]string, index map[string]int32, edges int) ([]int32, adjacency, error) {
	indeg := make([]int32, len(ids))
	from := make([]int32, 0, edges) // the step depended on, per edge in order
	a := adjacency{start: make([]int32, len(ids)+1), at: make([]int32, edges)}
	for i := range ids {
		for _, d := range deps[i] {
			j, ok := index[d]
			if !ok {
				return nil, a, &UnknownDependencyError{Step: ids[i], DependsOn: d}
			}
			indeg[i]++
			a.start[j+1]++
			from = append(from, j)
		}
	}
	for i := range ids {
		a.start[i+1] += a.start[i]
	}
	fill := make([]int32, len(ids))
	copy(fill, a.start[:len(ids)])
	e := 0
	for i := range ids {
		for range deps[i] {
			j := from[e]
			a.at[fill[j]] = int32(i)
			fill[j]++
			e++
		}
	}
	return indeg, a, nil
}

// idHeap is a min-heap of step indexes ordered by step ID.
type idHeap struct {
	ids   []string
	items []int32
}

func (h *idHeap) less(i, j int) bool { return h.ids[h.items[i]] < h.ids[h.items[j]] }

func (h *idHeap) init() {
	for i := len(h.items)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *idHeap) push(x int32) {
	h.items = append(h.items, x)
	for i := len(h.items) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			break
		}
		h.items[i], h.items[parent] = h.items[parent], h.items[i]
		i = parent
	}
}

func (h *idHeap) pop() int32 {
	last := len(h.items) - 1
	h.items[0], h.items[last] = h.items[last], h.items[0]
	x := h.items[last]
	h.items = h.items[:last]
	h.down(0)
	return x
}

func (h *idHeap) down(i int) {
	for {
		least, l, r := i, 2*i+1, 2*i+2
		if l < len(h.items) && h.less(l, least) {
			least = l
		}
		if r < len(h.items) && h.less(r, least) {
			least = r
		}
		if least == i {
			return
		}
		h.items[i], h.items[least] = h.items[least], h.items[i]
		i = least
	}
}
