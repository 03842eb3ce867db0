// Package watch keeps a cluster following a directory of desired-state YAML. It
// owns the loop only: an fsnotify watch over the whole tree (new subfolders
// included, hidden and editor temporary files ignored, save-by-rename and
// Kubernetes-style `..data` symlink swaps understood), a debounce, a periodic
// resync, at most one reconcile at a time with triggers that arrive during a run
// coalesced into one follow-up, the last valid desired state kept while the
// input is invalid, and the operations surface (health, readiness, Prometheus
// metrics on its own registry, JSON status). Every trigger re-reads the whole
// tree: event contents never drive decisions. It must not plan or apply by
// itself: Pipeline calls plan.Build and apply.Run, and the loop is built around
// an injected ReconcileFunc so it can be tested and reused without them.
package watch
