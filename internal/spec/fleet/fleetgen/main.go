// Command fleetgen writes a synthetic fleet for bench/fleet.sh:
//
//	go run ./internal/spec/fleet/fleetgen -vms 10000 -dir /tmp/fleet
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/tlreconcile/tlreconcile/internal/spec/fleet"
)

func main() {
	vms := flag.Int("vms", 10000, "number of TrustedLaunchVM documents")
	per := flag.Int("per-file", 100, "VM documents per file")
	dir := flag.String("dir", "", "directory to write into (created; must be empty or absent)")
	flag.Parse()
	if err := run(*dir, *vms, *per); err != nil {
		fmt.Fprintln(os.Stderr, "fleetgen:", err)
		os.Exit(1)
	}
}

func run(dir string, vms, per int) error {
	if dir == "" {
		return fmt.Errorf("-dir is required; give a directory to write the fleet into")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if entries, err := os.ReadDir(dir); err != nil {
		return err
	} else if len(entries) > 0 {
		return fmt.Errorf("%s is not empty; give an empty or new directory", dir)
	}
	files, err := fleet.Write(dir, fleet.Options{VMs: vms, PerFile: per})
	if err != nil {
		return err
	}
	fmt.Printf("wrote %d VMs in %d files to %s\n", vms, len(files), dir)
	return nil
}
