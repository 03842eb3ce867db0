// Package fleet writes synthetic desired-state fleets (one Cluster and many
// TrustedLaunchVM documents over many files) for the loader's benchmarks and
// for bench/fleet.sh, so the benchmark functions and the script measure the
// same YAML. It must not be imported by shipped code: it only writes files.
package fleet
