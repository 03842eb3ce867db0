package hyperv_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv/hypervfake"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
)

// TestMain doubles as a fake PowerShell executable: with TLR_FAKE_POWERSHELL=1 the test
// binary speaks the host protocol on stdin/stdout, so the local transport is tested with a
// real child process.
func TestMain(m *testing.M) {
	if os.Getenv("TLR_FAKE_POWERSHELL") == "1" {
		os.Exit(fakePowerShell())
	}
	os.Exit(m.Run())
}

func fakePowerShell() int {
	if !slices.Equal(os.Args[1:], psnode.BootstrapArgs()) {
		fmt.Fprintf(os.Stderr, "fake powershell: unexpected arguments %q\n", os.Args[1:])
		return 2
	}
	handler := func(_ context.Context, script string, p *hyperv.Payload) (any, *psnode.ScriptError) {
		switch {
		case script == hyperv.ScriptObserve:
			return hyperv.NodeReport{ComputerName: "LOCAL", VMs: []hyperv.VMReport{{Name: "x", Generation: 2, State: "Off"}, {Name: "die", Generation: 2, State: "Off"}}}, nil
		case p.VM == "die":
			os.Exit(3) // a crash in the middle of a request
		case p.VM == "hang":
			time.Sleep(time.Minute)
		}
		return hyperv.OpResult{Changed: true, Message: strconv.Itoa(os.Getpid())}, nil
	}
	if err := hypervfake.Serve(context.Background(), os.Stdin, os.Stdout, handler, hypervfake.ServeOptions{Noise: true}); err != nil {
		fmt.Fprintln(os.Stderr, "fake powershell:", err)
		return 1
	}
	return 0
}

func TestLocalTransport(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	d, err := hyperv.New(drivers.Config{}, hyperv.WithTransport(func(drivers.ClusterRef, *hyperv.Options) (hyperv.Transport, error) {
		return &psnode.LocalTransport{Exe: exe, Env: append(os.Environ(), "TLR_FAKE_POWERSHELL=1")}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := t.Context()
	ref := drivers.ClusterRef{Name: "local", Driver: hyperv.Name, Nodes: []string{"hv01"}}
	obs, err := d.Observe(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.VMs) != 2 {
		t.Fatalf("observed %d VMs, want 2", len(obs.VMs))
	}
	stop := func(vm string) (string, error) {
		res, err := d.Apply(ctx, ref, drivers.Op{Kind: drivers.OpStopVM, Cluster: "local", VM: vm})
		return res.Message, err
	}
	pid1, err := stop("x")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := stop("x"); err != nil || again != pid1 {
		t.Fatalf("second request ran in process %s (err %v), want the same long-lived process %s", again, err, pid1)
	}

	t.Run("a process that dies is a transient error and is restarted", func(t *testing.T) {
		_, err := stop("die")
		if !drivers.IsTransient(err) || !strings.Contains(err.Error(), "powershell ended") {
			t.Fatalf("error %v, want a transient 'powershell ended' error", err)
		}
		pid2, err := stop("x")
		if err != nil {
			t.Fatal(err)
		}
		if pid2 == pid1 {
			t.Errorf("request after the crash ran in the dead process %s", pid1)
		}
		if st := d.Stats(); st.Starts != 2 {
			t.Errorf("Starts = %d, want 2 (the first process and one restart)", st.Starts)
		}
	})

	t.Run("a cancelled request ends the process", func(t *testing.T) {
		before := d.Stats().Starts
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_, err := d.Apply(cctx, ref, drivers.Op{Kind: drivers.OpStopVM, Cluster: "local", VM: "x", Params: nil})
		if err != nil {
			t.Fatalf("warm-up: %v", err)
		}
		_, err = d.Apply(cctx, ref, drivers.Op{Kind: drivers.OpStopVM, Cluster: "local", VM: "hang"})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want context.DeadlineExceeded", err)
		}
		if _, err := stop("x"); err != nil {
			t.Fatal(err)
		}
		if got := d.Stats().Starts; got != before+1 {
			t.Errorf("Starts = %d, want %d (a fresh process after the cancelled request)", got, before+1)
		}
	})
}

func TestLocalTransportRefusesMultiNodeClusters(t *testing.T) {
	d, err := hyperv.New(drivers.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Observe(t.Context(), drivers.ClusterRef{Name: "c", Driver: hyperv.Name, Nodes: []string{"a", "b"}})
	if err == nil || !strings.Contains(err.Error(), "transport: ssh") {
		t.Fatalf("error %v, want advice to use transport: ssh", err)
	}
}

func TestLocalTransportMissingExecutable(t *testing.T) {
	d, err := hyperv.New(drivers.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ref := drivers.ClusterRef{Name: "c", Driver: hyperv.Name, Nodes: []string{"a"}, Options: map[string]any{"powershell": "/nonexistent/pwsh"}}
	_, err = d.Observe(t.Context(), ref)
	if err == nil || !strings.Contains(err.Error(), "install PowerShell") {
		t.Fatalf("error %v, want advice to install PowerShell", err)
	}
}
