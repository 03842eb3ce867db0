// Package gctune sets the Go garbage collector for one short batch command
// (validate, plan) of a process: no collection while the runtime's memory
// stays under a floor, GOGC-like growth above it. A command that reads
// 10,000 documents allocates hundreds of MB of short-lived parse trees with
// a small live heap; the default GOGC=100 collects every few MB, and that
// costs a third of the CPU. It owns nothing but the runtime's two knobs,
// restores them when the command ends, and stays out of the way of a user
// who set GOGC or GOMEMLIMIT.
package gctune
