package fleet

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// Options says how large a fleet to write.
type Options struct {
	// VMs is the number of TrustedLaunchVM documents.
	VMs int
	// PerFile is the number of VM documents per file; 0 means 100.
	PerFile int
	// Cluster is the cluster's name; "" means "c1".
	Cluster string
}

// ClusterFile is the name of the file holding the Cluster document.
const ClusterFile = "cluster.yaml"

// Write writes the fleet into dir (which must exist): ClusterFile and
// vms-NNNNN.yaml files. It returns every file written, cluster first.
func Write(dir string, o Options) ([]string, error) {
	if o.VMs < 0 {
		return nil, fmt.Errorf("fleet: %d VMs: give zero or more", o.VMs)
	}
	per := o.PerFile
	if per <= 0 {
		per = 100
	}
	cluster := o.Cluster
	if cluster == "" {
		cluster = "c1"
	}
	files := []string{filepath.Join(dir, ClusterFile)}
	head := fmt.Sprintf("apiVersion: tlreconcile/v1alpha1\nkind: Cluster\nmetadata: {name: %s}\nspec:\n  driver: sim\n  nodes: [n1, n2, n3]\n", cluster)
	if err := os.WriteFile(files[0], []byte(head), 0o644); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	var buf bytes.Buffer
	for f := 0; f*per < o.VMs; f++ {
		buf.Reset()
		for v := f * per; v < min((f+1)*per, o.VMs); v++ {
			if v > f*per {
				buf.WriteString("---\n")
			}
			writeVM(&buf, cluster, f, v)
		}
		p := filepath.Join(dir, fmt.Sprintf("vms-%05d.yaml", f))
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			return nil, fmt.Errorf("fleet: %w", err)
		}
		files = append(files, p)
	}
	return files, nil
}

// writeVM writes one VM document: every field set, as a real fleet file
// would, with the image of the built-in catalog that fits the template.
func writeVM(buf *bytes.Buffer, cluster string, file, vm int) {
	fmt.Fprintf(buf, `apiVersion: tlreconcile/v1alpha1
kind: TrustedLaunchVM
metadata:
  name: vm-%06d
  cluster: %s
  labels: {pool: avd, batch: "%d"}
spec:
  image: {publisher: microsoftwindowsdesktop, offer: windows-11, sku: win11-22h2-avd, version: 22621.2428.231001}
  processors: 4
  memoryMB: 8192
  secureBoot: {enabled: true, template: MicrosoftWindows}
  vtpm: {enabled: true}
  vbs: true
  placement: {node: n%d}
  power: Running
  protect: true
`, vm, cluster, file, vm%3+1)
}
