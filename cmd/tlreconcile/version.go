package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set by the linker (-X main.version=...) in release builds.
var version = "dev"

func newVersionCmd(o *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the tlreconcile version",
		Example: "  tlreconcile version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			_, err := fmt.Fprintf(o.stdout, "tlreconcile %s\n", v)
			return err
		},
	}
}
