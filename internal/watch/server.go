package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// CheckListen refuses addresses that would expose the operations surface beyond
// this host (an empty host, 0.0.0.0 or ::) unless allowAny is true.
func CheckListen(addr string, allowAny bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: %w: use HOST:PORT such as 127.0.0.1:9464", addr, err)
	}
	if port == "" {
		return fmt.Errorf("--listen %q: no port: use HOST:PORT such as 127.0.0.1:9464", addr)
	}
	if allowAny {
		return nil
	}
	if host == "" {
		return fmt.Errorf("--listen %q listens on every interface: name one (127.0.0.1:%s), or add --listen-any if you mean it", addr, port)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("--listen %q listens on every interface: name one (127.0.0.1:%s), or add --listen-any if you mean it", addr, port)
	}
	return nil
}

// Handler serves /healthz, /readyz, /metrics and /status.
func (w *Watcher) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if msg := w.Status().unhealthy(w.o.UnhealthyAfter); msg != "" {
			rw.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(rw, msg)
			return
		}
		fmt.Fprintln(rw, "ok")
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if msg := w.Status().notReady(); msg != "" {
			rw.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(rw, msg)
			return
		}
		fmt.Fprintln(rw, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(w.m.reg, promhttp.HandlerOpts{Registry: w.m.reg}))
	mux.HandleFunc("GET /status", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(rw)
		enc.SetIndent("", "  ")
		_ = enc.Encode(w.Status()) // the client went away: nothing to do
	})
	return mux
}

// Serve answers the operations surface on ln until ctx is done.
func (w *Watcher) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			return serr
		}
		return err
	}
}
