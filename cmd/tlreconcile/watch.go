package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/watch"
)

// watchOptions are the flags of `tlreconcile watch`.
type watchOptions struct {
	root             *rootOptions
	dir              string   // the positional DIR
	filenames        []string // -f, as every other command takes its input
	mode             string
	debounce         time.Duration
	settle           time.Duration
	interval         time.Duration
	listen           string
	listenAny        bool
	prune            bool
	allowDestructive bool
	parallelism      int
	lockTimeout      time.Duration
	shutdownTimeout  time.Duration
	logFormat        string
	logLevel         string
	logFile          string
}

func newWatchCmd(root *rootOptions) *cobra.Command {
	o := &watchOptions{root: root}
	cmd := &cobra.Command{
		Use:   "watch DIR | watch -f DIR",
		Short: "Keep the clusters following a folder of desired-state YAML",
		Long: `watch reconciles the clusters whenever the YAML under DIR changes (new subfolders
included; hidden and editor temporary files ignored; save-by-rename and Kubernetes ConfigMap
..data swaps understood), after --debounce of quiet, and every --interval to catch drift made
outside tlreconcile. SIGHUP forces a resync. Every run re-reads the whole folder exactly as
'tlreconcile validate -f DIR' reads it: the same diagnostics, symlinks followed while they stay
inside DIR (for files and folders; DIR may itself be a symlink) and refused with
symlink-outside-root when they lead out, FIFOs and devices refused, a folder without YAML an
error. A file is read only once it has been quiet for --debounce, and VMs that vanish from a
file changed within --settle are acted on only after it (a file still being written is valid
YAML that ends early).

--mode correct plans and applies; --mode detect only reports drift (logs, /status, /metrics).
Invalid YAML in any file is reported and the last valid desired state stays in force; a file
that vanishes never deletes a VM unless --prune; a vanished DIR stops all action until it is
back; destructive steps need --allow-destructive (without it they are reported as blocked and
every other change still runs). At most one run at a time: changes that
arrive during a run are folded into one follow-up run. Each applying run takes the apply lock
under --state-dir, so a manual 'tlreconcile apply' and the watcher never overlap.

--listen serves /healthz (503 after 3 failed runs in a row, such as an unreadable journal),
/readyz (ready after the first successful observation; 503 while the files hold errors or the
last run failed), /metrics (Prometheus) and /status (JSON). SIGTERM or SIGINT lets the running
step finish, starts no new one, and exits 0, or 1 naming the VMs when the last run left a VM
Off (apply could not start it again).`,
		Example: `  # follow a folder on the sim driver, logs as text
  tlreconcile watch examples/basic --state-dir /tmp/tl

  # the same, with the folder given as every other command takes it
  tlreconcile watch -f examples/basic --state-dir /tmp/tl

  # report drift only, JSON logs, check every minute
  tlreconcile watch /etc/tlreconcile/desired --mode detect --interval 1m --log-format json

  # then, from another shell
  curl -s 127.0.0.1:9464/status | jq .last_run
  kill -HUP $(pidof tlreconcile)     # resync now`,
		Args: cobra.MaximumNArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return nil, cobra.ShellCompDirectiveFilterDirs
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.dir = args[0]
			}
			return validateThenRun(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.filenames, "filename", "f", nil, "the folder of desired-state YAML to follow (the same as DIR)")
	f.DurationVar(&o.settle, "settle", watch.DefaultSettle, "how long a file that lost VM documents must stay unchanged before the loss is acted on")
	f.StringVar(&o.mode, "mode", string(watch.ModeCorrect), "correct (plan and apply) or detect (report drift, change nothing)")
	f.DurationVar(&o.debounce, "debounce", watch.DefaultDebounce, "quiet time after a file change before a run")
	f.DurationVar(&o.interval, "interval", watch.DefaultInterval, "periodic resync that catches drift made outside tlreconcile")
	f.StringVar(&o.listen, "listen", "127.0.0.1:9464", "address of /healthz, /readyz, /metrics and /status; empty: none")
	f.BoolVar(&o.listenAny, "listen-any", false, "allow --listen on every interface (0.0.0.0, ::); the endpoints have no authentication")
	f.BoolVar(&o.prune, "prune", false, "delete managed VMs whose documents are gone")
	f.BoolVar(&o.allowDestructive, "allow-destructive", false, "let destructive steps run: vTPM disable, key-protector reset, replace, delete (vTPM secrets such as BitLocker keys are lost)")
	f.IntVar(&o.parallelism, "parallelism", apply.DefaultParallelism, "how many VMs to change at once")
	f.DurationVar(&o.lockTimeout, "lock-timeout", 30*time.Second, "how long a run waits for another apply on the same state dir")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", watch.DefaultShutdownTimeout, "how long SIGTERM waits for the running step to finish")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&o.logFile, "log-file", "", "append logs to this file instead of stderr (as a Windows service: STATE_DIR/watch.log)")
	_ = cmd.MarkFlagDirname("filename")
	_ = cmd.RegisterFlagCompletionFunc("mode", cobra.FixedCompletions([]string{"correct", "detect"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// folder is the one folder to follow, from DIR or -f.
func (o *watchOptions) folder() (string, error) {
	roots := slices.Clone(o.filenames)
	if o.dir != "" {
		roots = append(roots, o.dir)
	}
	slices.Sort(roots)
	roots = slices.Compact(roots)
	switch {
	case len(roots) == 0:
		return "", errors.New("watch: no folder to watch; give DIR or -f DIR, the folder of desired-state YAML")
	case slices.Contains(roots, "-"):
		return "", errors.New("watch: -f - (standard input) cannot be followed; give the folder of desired-state YAML")
	case len(roots) > 1:
		return "", fmt.Errorf("watch: one folder at a time, got %s; put the YAML under one folder (subfolders and links inside it are read), or run one watch per folder with its own --state-dir", strings.Join(roots, ", "))
	}
	return roots[0], nil
}

// Validate checks flag combinations before any I/O.
func (o *watchOptions) Validate() error {
	var errs []error
	if _, err := o.folder(); err != nil {
		errs = append(errs, err)
	}
	if o.settle < 0 {
		errs = append(errs, fmt.Errorf("watch: --settle %s must not be negative", o.settle))
	}
	errs = append(errs, oneOf("watch", "mode", o.mode, string(watch.ModeCorrect), string(watch.ModeDetect)))
	if o.debounce <= 0 {
		errs = append(errs, fmt.Errorf("watch: --debounce %s must be above zero", o.debounce))
	}
	if o.interval < time.Second {
		errs = append(errs, fmt.Errorf("watch: --interval %s: use 1s or more", o.interval))
	}
	if o.listen != "" {
		if err := watch.CheckListen(o.listen, o.listenAny); err != nil {
			errs = append(errs, fmt.Errorf("watch: %w", err))
		}
	}
	errs = append(errs, oneOf("watch", "log-format", o.logFormat, "text", "json"))
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("watch: --log-level %q: use debug, info, warn or error", o.logLevel))
	}
	if o.parallelism < 1 {
		errs = append(errs, fmt.Errorf("watch: --parallelism %d must be 1 or more", o.parallelism))
	}
	if o.lockTimeout < 0 || o.shutdownTimeout <= 0 {
		errs = append(errs, errors.New("watch: --lock-timeout must not be negative and --shutdown-timeout must be above zero"))
	}
	return errors.Join(errs...)
}

func (o *watchOptions) logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(o.logLevel)) // checked in Validate
	ho := &slog.HandlerOptions{Level: lvl}
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// Run serves the operations surface and runs the loop until SIGTERM/SIGINT.
func (o *watchOptions) Run(ctx context.Context) (err error) {
	scm := underSCM()
	logw, closeLog, err := o.logOutput(scm)
	if err != nil {
		return err
	}
	defer closeLog()
	log := o.logger(logw)
	mode := watch.Mode(o.mode)
	p := &watch.Pipeline{
		Registry: o.root.registry(), Config: o.root.driverConfig(), Mode: mode,
		Prune: o.prune, AllowDestructive: o.allowDestructive, Parallelism: o.parallelism,
		LockTimeout: o.lockTimeout, Events: applyEventLogger(log), Logger: log,
	}
	dir, err := o.folder()
	if err != nil {
		return err
	}
	w, err := watch.New(watch.Options{
		Dir: dir, Mode: mode, Load: p.Load, Reconcile: p.Reconcile, Logger: log,
		Debounce: o.debounce, Settle: o.settle, Interval: o.interval, ShutdownTimeout: o.shutdownTimeout,
	})
	if err != nil {
		return err
	}
	ctx, serviceDone, err := startService(ctx, scm, log, w.Resync, o.shutdownTimeout)
	if err != nil {
		return err
	}
	defer func() { serviceDone(err) }()
	if err := os.MkdirAll(o.root.stateDir, 0o700); err != nil {
		return fmt.Errorf("watch: state dir: %w", err)
	}

	// The HTTP surface outlives the loop by nothing: it stops when Run returns.
	srvCtx, stopSrv := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSrv()
	srvErr := make(chan error, 1)
	if o.listen != "" {
		ln, err := net.Listen("tcp", o.listen)
		if err != nil {
			return fmt.Errorf("watch: --listen %s: %w: choose another port, or --listen '' for none", o.listen, err)
		}
		log.Info("serving /healthz /readyz /metrics /status", "addr", ln.Addr().String())
		go func() { srvErr <- w.Serve(srvCtx, ln) }()
	} else {
		srvErr <- nil
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				log.Info("SIGHUP: resync")
				w.Resync()
			case <-srvCtx.Done():
				return
			}
		}
	}()

	runErr := w.Run(ctx)
	stopSrv()
	if err := <-srvErr; err != nil && runErr == nil {
		runErr = fmt.Errorf("watch: http: %w", err)
	}
	return runErr
}

// applyEventLogger logs apply's step events; the run summary is logged by the loop.
func applyEventLogger(log *slog.Logger) func(apply.Event) {
	return func(e apply.Event) {
		attrs := []any{"resource", e.Resource, "cluster", e.Cluster, "step", e.StepID, "op", e.Op}
		switch e.Kind {
		case apply.EventStepStarted:
			log.Info("step started", attrs...)
		case apply.EventStepDone:
			log.Info("step done", append(attrs, "elapsed", e.Elapsed.Round(time.Millisecond), "changed", e.Changed)...)
		case apply.EventStepRetrying:
			log.Warn("step retrying", append(attrs, "attempt", e.Attempt, "delay", e.Delay, "err", e.Error)...)
		case apply.EventStepFailed, apply.EventVerifyFailed:
			log.Error(string(e.Kind), append(attrs, "err", e.Error, "message", e.Message)...)
		case apply.EventStepSkipped, apply.EventPowerRestore:
			log.Warn(string(e.Kind), append(attrs, "message", e.Message)...)
		case apply.EventVerified:
			log.Debug("verified", "resource", e.Resource, "cluster", e.Cluster)
		}
	}
}
