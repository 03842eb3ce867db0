package arm_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
)

// benchVMs is the size of the simulated cluster the ARM benchmarks run
// against (issue 10, Performance).
const benchVMs = 10_000

// benchSim is a started Server with a plain client: no conformance check
// on the way, so the numbers are the sim's and not the validator's (the
// tests check what the sim answers; the benchmarks time it).
type benchSim struct {
	base   string
	client *http.Client
	auth   string
}

func startBenchSim(b *testing.B, dir string, host arm.Host) *benchSim {
	b.Helper()
	srv, err := arm.New(dir, host, arm.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	base, err := srv.Start(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cancel(); _ = srv.Close() })
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CertPool()}, MaxIdleConnsPerHost: 64}
	// Runs before the server's cleanup: a connection the transport dialed
	// and never used is one http.Server.Shutdown waits 5 s for.
	b.Cleanup(tr.CloseIdleConnections)
	s := &benchSim{base: base, client: &http.Client{Transport: tr}}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"bench"}, "client_secret": {"s3cret"},
		"scope": {"https://management.azure.com/.default"}}
	resp, err := s.client.PostForm(arm.TokenURL(base, tenant), form)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		b.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	s.auth = "Bearer " + tok.AccessToken
	return s
}

// benchStateDir is a state dir in memory (/dev/shm) where the machine has
// one, else a temporary dir: every ARM write is an fsynced atomic rename,
// and 10,000 VMs' worth of fsyncs on a disk take minutes, all of them
// seeding, none of them timed. The timed reads come from the page cache
// either way.
func benchStateDir(b *testing.B) string {
	b.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "tlreconcile-armbench-"); err == nil {
			b.Cleanup(func() { _ = os.RemoveAll(dir) })
			return dir
		}
	}
	return b.TempDir()
}

// call sends one request and returns its status and body; an error is a
// transport failure.
func (s *benchSim) call(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", s.auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

func (s *benchSim) want(status int, method, path string, body any) error {
	got, raw, err := s.call(method, path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if got != status {
		return fmt.Errorf("%s %s: got %d, want %d: %s", method, path, got, status, raw)
	}
	return nil
}

// walkList follows a list's nextLinks from first and counts its pages,
// members and body bytes.
func (s *benchSim) walkList(first string) (pages, members, bytes int, err error) {
	for next := first; next != ""; pages++ {
		status, raw, err := s.call("GET", strings.TrimPrefix(next, s.base), nil)
		if err != nil || status != 200 {
			return pages, members, bytes, fmt.Errorf("GET %s: %d %v", next, status, err)
		}
		var page struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"nextLink"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return pages, members, bytes, err
		}
		members, bytes, next = members+len(page.Value), bytes+len(raw), page.NextLink
	}
	return pages, members, bytes, nil
}

func benchVMName(i int) string { return fmt.Sprintf("vm-%05d", i) }

// seed creates n trusted-launch VMs through ARM, as a client would: the
// image, network and NIC once, then per VM its HCI machine and its instance,
// and a GET that completes the instance's create (OperationDelay 0: the
// operation is due at once and the next read settles it). Workers run in
// parallel; writes in one resource group serialise on its lock, as they do
// in the sim.
func (s *benchSim) seed(b *testing.B, n int) {
	b.Helper()
	for _, step := range []struct {
		path string
		body any
	}{
		{hciPath("marketplaceGalleryImages", "win11") + hciAPI, imageBody("win11-22h2-avd")},
		{hciPath("logicalNetworks", "lnet") + hciAPI, lnetBody()},
		{hciPath("networkInterfaces", "nic") + hciAPI, nicBody()},
	} {
		if err := s.want(201, "PUT", step.path, step.body); err != nil {
			b.Fatal(err)
		}
		if err := s.want(200, "GET", step.path, nil); err != nil { // settles the create
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range 2 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				name := benchVMName(i)
				err := s.want(200, "PUT", machinePath(name)+hcAPI, machineBody("HCI"))
				if err == nil {
					err = s.want(201, "PUT", vmiPath(name)+hciAPI, vmiBody("win11", true, true))
				}
				if err == nil {
					err = s.want(200, "GET", vmiPath(name)+hciAPI, nil)
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// BenchmarkARM10kVMs: a simulated cluster of benchVMs trusted-launch VMs,
// all in one resource group, served over HTTPS on loopback (issue 10,
// Performance), behind the in-memory stand-in host: the numbers of ARM
// alone. The parent seeds it once, untimed (a benchmark with sub-benchmarks
// is run once and not reported); each sub-benchmark times one thing against
// it. The client shares the process, so B/op and allocs/op count both ends
// of each exchange.
func BenchmarkARM10kVMs(b *testing.B) {
	benchARM(b, benchStateDir(b), &arm.MemoryHost{})
}

// BenchmarkARM10kVMsCluster is BenchmarkARM10kVMs behind the real cluster
// model (internal/sim/cluster on the same state dir): every create places a
// Hyper-V VM with its key and a vTPM whose guest boots, as sim serve does.
// A GET or a list is ARM's alone, so those numbers should match the
// MemoryHost's; the seed time and memory are the whole sim's.
func BenchmarkARM10kVMsCluster(b *testing.B) {
	dir := benchStateDir(b)
	host, err := cluster.Open(dir, cluster.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = host.Close() })
	benchARM(b, dir, host)
	st, err := host.Observe(context.Background(), "sim-cluster", cluster.ObserveOptions{})
	if err != nil || len(st.VMs) != benchVMs+1 { // and the Arc resource bridge VM
		b.Fatalf("cluster: %d VMs (%v), want %d and the resource bridge", len(st.VMs), err, benchVMs)
	}
}

func benchARM(b *testing.B, dir string, host arm.Host) {
	s := startBenchSim(b, dir, host)
	start := time.Now()
	s.seed(b, benchVMs)
	seeded := time.Since(start)
	// The sim serves from its state dir, so what it holds in memory after
	// seeding is what one process of it costs (with the host's state and
	// this client, which share the process).
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss := rssBytes()

	vmi := vmiPath(benchVMName(benchVMs/2)) + hciAPI
	b.Run("GetVMInstance", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.want(200, "GET", vmi, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	// GetVMInstanceParallel is GET throughput: GOMAXPROCS clients at once.
	b.Run("GetVMInstanceParallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.want(200, "GET", vmi, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	// ListMachines walks the whole list, page by page through each
	// nextLink, as a client's pager does: one op is every page.
	b.Run("ListMachines", func(b *testing.B) {
		first := group() + "/providers/Microsoft.HybridCompute/machines" + hcAPI
		pages, members, bytes, err := s.walkList(first)
		if err != nil || members != benchVMs || pages != benchVMs/arm.DefaultPageSize {
			b.Fatalf("list: %d machines in %d pages, want all %d in pages of %d (%v)", members, pages, benchVMs, arm.DefaultPageSize, err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, _, _, err := s.walkList(first); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(pages), "pages/op")
		b.ReportMetric(float64(bytes), "body-bytes/op")
	})
	// ListMachinesFirstPage is one page: the latency of a list's first answer.
	b.Run("ListMachinesFirstPage", func(b *testing.B) {
		first := group() + "/providers/Microsoft.HybridCompute/machines" + hcAPI
		b.ReportAllocs()
		for b.Loop() {
			if err := s.want(200, "GET", first, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	// ListMachinesBySubscription is the subscription-wide walk.
	b.Run("ListMachinesBySubscription", func(b *testing.B) {
		first := "/subscriptions/" + sub + "/providers/Microsoft.HybridCompute/machines" + hcAPI
		b.ReportAllocs()
		for b.Loop() {
			if _, n, _, err := s.walkList(first); err != nil || n != benchVMs {
				b.Fatalf("list: %d machines (%v)", n, err)
			}
		}
	})
	// Memory times nothing (no loop: an empty one would spin for the whole
	// benchtime); its numbers are the seeded sim's.
	b.Run("Memory", func(b *testing.B) {
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(float64(ms.HeapAlloc), "heap-bytes")
		b.ReportMetric(float64(ms.HeapInuse), "heap-inuse-bytes")
		b.ReportMetric(float64(ms.Sys), "sys-bytes")
		b.ReportMetric(rss, "rss-bytes")
		b.ReportMetric(seeded.Seconds(), "seed-s")
	})
}

// rssBytes is the resident set of this process (Linux: VmRSS of
// /proc/self/status), 0 where that cannot be read.
func rssBytes() float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(raw)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64); err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}
