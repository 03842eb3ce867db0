package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestBuildVersion(t *testing.T) {
	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "44d76eec8c3cb69b5d44f2e7eecd4c2e8f11743a"},
		{Key: "vcs.time", Value: "2026-12-01T20:46:20Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	cases := []struct {
		name     string
		bi       *debug.BuildInfo
		ok       bool
		want     versionInfo
		wantText string
	}{
		{
			name:     "stamped by go build in a checkout",
			bi:       stamped,
			ok:       true,
			want:     versionInfo{Version: "dev", Commit: "44d76eec8c3cb69b5d44f2e7eecd4c2e8f11743a", CommitTime: "2026-12-01T20:46:20Z", Modified: true, GoVersion: "go1.26.8"},
			wantText: "tlreconcile dev, commit 44d76eec8c3cb69b5d44f2e7eecd4c2e8f11743a (2026-12-01T20:46:20Z), modified, go1.26.8 ",
		},
		{
			name:     "module version, no VCS stamp",
			bi:       &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.2.0"}},
			ok:       true,
			want:     versionInfo{Version: "v0.2.0", GoVersion: "go1.26.8"},
			wantText: "tlreconcile v0.2.0, commit unknown (built without VCS information), go1.26.8 ",
		},
		{
			name:     "no build info",
			want:     versionInfo{Version: "dev"},
			wantText: "tlreconcile dev, commit unknown (built without VCS information), ",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := buildVersion(tc.bi, tc.ok)
			if got.Platform == "" {
				t.Error("no platform")
			}
			got.Platform = ""
			if tc.want.GoVersion == "" {
				got.GoVersion = ""
			}
			if got != tc.want {
				t.Errorf("buildVersion = %+v, want %+v", got, tc.want)
			}
			var out bytes.Buffer
			if err := buildVersion(tc.bi, tc.ok).writeText(&out); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(out.String(), tc.wantText) {
				t.Errorf("text = %q, want it to start with %q", out.String(), tc.wantText)
			}
		})
	}
}

func TestVersionFormat(t *testing.T) {
	out, err := runCLI(t, "", "version", "--format", "json")
	if err != nil {
		t.Fatalf("version --format json: %v", err)
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(out), &fields); err != nil {
		t.Fatalf("version --format json is not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"version", "commit", "commit_time", "modified", "go_version", "platform"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("version --format json has no %q: %s", k, out)
		}
	}
	if _, err := runCLI(t, "", "version", "--format", "markdown"); err == nil || !strings.Contains(err.Error(), "text or json") {
		t.Errorf("version --format markdown: %v, want an error naming text or json", err)
	}
}

// TestVersionReportsCommit builds the binary the way the README installs it
// (go build in a git checkout) and insists `version` names that checkout's
// commit. The working tree is copied into a fresh repository and committed, so
// the test checks this code, not the last commit.
func TestVersionReportsCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not on PATH")
	}
	files, err := exec.Command(git, "-C", "../..", "ls-files", "-co", "--exclude-standard", "-z").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	repo := t.TempDir()
	for _, f := range strings.Split(strings.TrimRight(string(files), "\x00"), "\x00") {
		raw, err := os.ReadFile(filepath.Join("../..", f))
		if err != nil {
			continue // deleted in the working tree
		}
		dst := filepath.Join(repo, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=true", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run(git, "init", "-q")
	run(git, "add", "-A")
	run(git, "commit", "-q", "-m", "version test")
	head := run(git, "rev-parse", "HEAD")
	bin := filepath.Join(t.TempDir(), "tlreconcile")
	run("go", "build", "-o", bin, "./cmd/tlreconcile")

	var v versionInfo
	if err := json.Unmarshal([]byte(run(bin, "version", "--format", "json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Commit != head || v.CommitTime == "" || v.Modified {
		t.Errorf("version --format json = %+v, want commit %s with its time, not modified", v, head)
	}
	if text := run(bin, "version"); !strings.Contains(text, "commit "+head) {
		t.Errorf("version = %q, want it to name commit %s", text, head)
	}
}
