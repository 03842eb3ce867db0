package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSimServe runs `tlreconcile sim serve` in process: it prints where the
// simulated ARM listens, refuses a call without a token, answers one with a
// token from its own endpoint, and stops when the context ends.
func TestSimServe(t *testing.T) {
	state := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	root := newRoot(&rootOptions{stdin: strings.NewReader(""), stdout: &out, stderr: &out})
	root.SetArgs([]string{"--state-dir", state, "sim", "serve", "--listen", "127.0.0.1:0"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	var base, tokenURL string
	for deadline := time.Now().Add(10 * time.Second); base == "" || tokenURL == ""; {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("sim serve printed no endpoints:\n%s", out.String())
		}
		for _, line := range strings.Split(out.String(), "\n") {
			if v, ok := strings.CutPrefix(line, "ARM endpoint:"); ok {
				base = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "token endpoint:"); ok {
				tokenURL = strings.TrimSpace(v)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	ca, err := os.ReadFile(filepath.Join(state, "tls", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	machine := base + "/subscriptions/fd3c3665-1729-4b7b-9a38-238e83b0f98b/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m1?api-version=2025-01-13"
	resp, err := client.Get(machine)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("without a token: %d %v, want 401 with a WWW-Authenticate challenge", resp.StatusCode, resp.Header)
	}
	resp, err = client.PostForm(tokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "client_secret": {"x"}, "scope": {"https://management.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	resp.Body.Close()
	token := between(b.String(), `"access_token":"`, `"`)
	req, _ := http.NewRequest(http.MethodGet, machine, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("with a token, an absent machine: %d, want 404", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("sim serve returned %v after the context ended", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sim serve did not stop when its context ended")
	}
}

func between(s, from, to string) string {
	_, rest, _ := strings.Cut(s, from)
	v, _, _ := strings.Cut(rest, to)
	return v
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
