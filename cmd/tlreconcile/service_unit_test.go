package main

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const serviceUnit = "../../docs/service/tlreconcile-watch.service"

// maxExposure is the highest `systemd-analyze security` exposure the unit may
// score (it scores 1.1; the unhardened one scored 8.5 EXPOSED).
const maxExposure = 2.0

// TestServiceUnitHardening: the systemd unit keeps the sandbox the service
// needs and no more: read-only system, no home directories, no capabilities,
// only Unix and IP sockets, the system-service syscall set, and its state dir
// writable.
func TestServiceUnitHardening(t *testing.T) {
	raw, err := os.ReadFile(serviceUnit)
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(raw), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{
		"ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
		"CapabilityBoundingSet=", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
		"SystemCallFilter=@system-service seccomp", "SystemCallFilter=~@privileged @resources",
		"StateDirectory=tlreconcile", "ReadWritePaths=/var/lib/tlreconcile", "UMask=0077",
	} {
		if !lines[want] {
			t.Errorf("%s has no line %q", serviceUnit, want)
		}
	}
}

// TestServiceUnitExposure scores the unit with the real systemd-analyze
// (skipped when it is not installed: apt-get install systemd).
func TestServiceUnitExposure(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not on PATH (apt-get install systemd)")
	}
	out, err := exec.Command(sa, "security", "--offline=true", "--no-pager", serviceUnit).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+) (\S+)`).FindSubmatch(out)
	if m == nil {
		if err != nil {
			t.Skipf("this systemd-analyze cannot score a unit file offline: %v\n%s", err, out)
		}
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: %s %s", m[1], m[2])
	if score > maxExposure {
		t.Errorf("systemd-analyze security scores the unit %s %s, want at most %.1f:\n%s", m[1], m[2], maxExposure, out)
	}
}
