package e2eboot_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/e2eboot"
)

// TestWriteCPIO has GNU cpio, a reader that is not ours, list and unpack the
// archive: names, types, modes, device numbers and contents come back.
func TestWriteCPIO(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("GNU cpio not installed (scripts/e2e-boot-deps.sh installs it)")
	}
	odd := []byte("three") // not a multiple of 4: the padding matters
	var buf bytes.Buffer
	err := e2eboot.WriteCPIO(&buf, []e2eboot.CPIOEntry{
		{Name: "bin", Mode: e2eboot.CPIODir | 0o755},
		{Name: "dev", Mode: e2eboot.CPIODir | 0o755},
		{Name: "dev/console", Mode: e2eboot.CPIOChar | 0o600, Major: 5, Minor: 1},
		{Name: "init", Mode: e2eboot.CPIOFile | 0o755, Data: odd},
		{Name: "bin/x", Mode: e2eboot.CPIOFile | 0o644, Data: []byte("four")},
	})
	if err != nil {
		t.Fatal(err)
	}
	list := exec.Command("cpio", "-itv", "--quiet")
	list.Stdin = bytes.NewReader(buf.Bytes())
	out, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v: %s", err, out)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		got = append(got, f[0]+" "+f[len(f)-1])
	}
	want := "drwxr-xr-x bin|drwxr-xr-x dev|crw------- dev/console|-rwxr-xr-x init|-rw-r--r-- bin/x"
	if strings.Join(got, "|") != want {
		t.Fatalf("cpio lists\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
	if !strings.Contains(string(out), "5,") || !strings.Contains(string(out), " 1 ") {
		t.Errorf("dev/console is not 5,1:\n%s", out)
	}
	dir := t.TempDir()
	extract := exec.Command("cpio", "-id", "--quiet", "--no-absolute-filenames", "--nonmatching", "dev/console")
	extract.Dir, extract.Stdin = dir, bytes.NewReader(buf.Bytes())
	if out, err := extract.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v: %s", err, out)
	}
	for name, data := range map[string]string{"init": "three", "bin/x": "four"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != data {
			t.Errorf("%s = %q, %v; want %q", name, b, err, data)
		}
	}
}

func TestWriteCPIORefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    e2eboot.CPIOEntry
	}{
		{"absolute", e2eboot.CPIOEntry{Name: "/init", Mode: e2eboot.CPIOFile}},
		{"empty", e2eboot.CPIOEntry{Mode: e2eboot.CPIOFile}},
		{"trailer", e2eboot.CPIOEntry{Name: "TRAILER!!!", Mode: e2eboot.CPIOFile}},
		{"directory with data", e2eboot.CPIOEntry{Name: "d", Mode: e2eboot.CPIODir, Data: []byte("x")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := e2eboot.WriteCPIO(&bytes.Buffer{}, []e2eboot.CPIOEntry{tc.e}); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
