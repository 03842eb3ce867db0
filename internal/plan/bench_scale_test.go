package plan_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/plan"
)

// BenchmarkBuild10000Creates is planning 10,000 VMs that do not exist yet:
// seven steps each, the plan fleet.sh measures end to end.
func BenchmarkBuild10000Creates(b *testing.B) {
	d, o := bigCluster(10000, false)
	o["c1"].VMs = nil
	b.ReportAllocs()
	for b.Loop() {
		p, err := plan.Build(d, o, plan.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if p.Summary.Create != 10000 {
			b.Fatalf("summary %+v", p.Summary)
		}
	}
}

// BenchmarkSave10000VMs is the plan file `plan -out` writes for 10,000
// drifted VMs and for 10,000 creates (format "3", compressed), and reading
// it back as apply does; the file's size is reported as MiB.
func BenchmarkSave10000VMs(b *testing.B) {
	for _, name := range []string{"drifted", "creates"} {
		d, o := bigCluster(10000, true)
		if name == "creates" {
			o["c1"].VMs = nil
		}
		p, err := plan.Build(d, o, plan.Options{})
		if err != nil {
			b.Fatal(err)
		}
		var file bytes.Buffer
		if err := plan.Save(&file, p); err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/save", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := plan.Save(io.Discard, p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(file.Len())/(1<<20), "MiB")
		})
		b.Run(name+"/read", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := plan.Read(bytes.NewReader(file.Bytes())); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
