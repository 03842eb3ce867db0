// Package apply executes a plan: cluster and node steps first, then each VM's
// steps in depends_on order with different VMs in parallel, retrying transient
// driver errors, restarting a VM the plan stopped when a later step fails,
// re-observing every VM against the plan's Expect, and recording completed steps
// in a journal under an exclusive lock so an interrupted run can be resumed. It
// owns execution only: it must never re-diff or re-decide the plan (the planner
// does that), never print (it emits Events that internal/view renders), and
// never import view.
package apply
