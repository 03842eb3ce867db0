package main

import (
	"io"
	"os"
	"strings"
	"testing"
)

func BenchmarkZZPlanFleet(b *testing.B) {
	fleet := os.Getenv("ZZ_FLEET")
	if fleet == "" {
		b.Skip()
	}
	args := strings.Fields(os.Getenv("ZZ_ARGS"))
	for b.Loop() {
		state := b.TempDir()
		root := newRootCmd(strings.NewReader(""), io.Discard, io.Discard)
		root.SetArgs(append([]string{"--state-dir", state, "plan", "-f", fleet, "--no-color"}, args...))
		if err := root.Execute(); err != nil {
			b.Fatal(err)
		}
	}
}
