package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/view"
)

// version is set by the linker (-X main.version=...) in release builds.
var version = "dev"

// versionInfo is what `tlreconcile version` reports; its JSON field names are
// the --format json contract. Commit, CommitTime and Modified come from the
// VCS stamp `go build` and `go install ./cmd/tlreconcile` put into a binary
// built inside a checkout; they are empty (false) when the build had none
// (go test, -buildvcs=false, a source tree without .git).
type versionInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit"`
	CommitTime string `json:"commit_time"`
	Modified   bool   `json:"modified"`
	GoVersion  string `json:"go_version"`
	Platform   string `json:"platform"`
}

// buildVersion reads the version from the linker flag, else the module
// version, and the commit from the build info's vcs.* settings.
func buildVersion(bi *debug.BuildInfo, ok bool) versionInfo {
	v := versionInfo{Version: version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if !ok || bi == nil {
		return v
	}
	if v.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		v.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// writeText prints one line: the version, then the commit (with its time and
// whether the tree had uncommitted changes), then the Go version.
func (v versionInfo) writeText(w io.Writer) error {
	commit := "commit unknown (built without VCS information)"
	if v.Commit != "" {
		commit = "commit " + v.Commit
		if v.CommitTime != "" {
			commit += " (" + v.CommitTime + ")"
		}
		if v.Modified {
			commit += ", modified"
		}
	}
	_, err := fmt.Fprintf(w, "tlreconcile %s, %s, %s %s\n", v.Version, commit, v.GoVersion, v.Platform)
	return err
}

type versionOptions struct {
	root   *rootOptions
	format string
}

// Validate checks --format before anything is printed.
func (o *versionOptions) Validate() error {
	return oneOf("version", "format", o.format, view.FormatText, view.FormatJSON)
}

// Run prints the version in the chosen format.
func (o *versionOptions) Run(context.Context) error {
	v := buildVersion(debug.ReadBuildInfo())
	if o.format == view.FormatJSON {
		enc := json.NewEncoder(o.root.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return v.writeText(o.root.stdout)
}

func newVersionCmd(root *rootOptions) *cobra.Command {
	o := &versionOptions{root: root}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the tlreconcile version and the commit it was built from",
		Long: `version prints the version, the commit the binary was built from (with the commit's time
and "modified" when the checkout had uncommitted changes), the Go version and the platform.
The commit is recorded by go build / go install ./cmd/tlreconcile inside a checkout.`,
		Example: `  tlreconcile version
  tlreconcile version --format json`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	cmd.Flags().StringVar(&o.format, "format", view.FormatText, "output format: text or json")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{view.FormatText, view.FormatJSON}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
