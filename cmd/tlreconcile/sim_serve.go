package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/internal/drivers/azurelocal"
	"github.com/tlreconcile/tlreconcile/internal/sim/arm"
	"github.com/tlreconcile/tlreconcile/internal/sim/cluster"
)

// simServeOptions are the flags of `tlreconcile sim serve`.
type simServeOptions struct {
	root   *rootOptions
	listen string
}

func newSimServeCmd(root *rootOptions) *cobra.Command {
	o := &simServeOptions{root: root}
	cmd := &cobra.Command{
		Use:   "serve [--listen ADDR]",
		Short: "Serve the simulated Azure Resource Manager of Azure Local over HTTPS",
		Long: `serve runs the simulated Azure Resource Manager (Arc machines, Azure Local VM instances,
marketplace gallery images, logical networks, network interfaces, storage containers, run
commands, long-running operations) and its token endpoint on ADDR, and prints the base URL,
the CA certificate clients must trust and the token endpoint. Its state lives under
--state-dir, so a second serve, or a test, on the same state dir sees the same resources.
It stops on Ctrl-C or SIGTERM.

Behind it is the simulated Azure Local cluster "sim-cluster" (nodes node1 and node2, under
--state-dir/cluster): a VM instance created through it is placed on a node whose IGVmAgent and
wssdagent run, with a guest state protection key in the MOC key vault and a real TPM 2.0 vTPM
sealed with it. The sim driver of 'driver: sim' does not see these VMs yet (issue 11 switches it
to the azurelocal driver over this endpoint).`,
		Example: `  # serve on a fixed port (until Ctrl-C)
  tlreconcile sim serve --listen 127.0.0.1:8443

  # in another terminal: a token from the printed token endpoint
  curl --cacert .tlreconcile/tls/ca.pem -d grant_type=client_credentials -d client_id=app \
    -d client_secret=x -d scope=https://management.azure.com/.default \
    https://127.0.0.1:8443/` + arm.DefaultTenant + `/oauth2/v2.0/token`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:0", "address to listen on (port 0 picks a free one); keep it on loopback")
	return cmd
}

// Validate checks --listen before anything is opened.
func (o *simServeOptions) Validate() error {
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		return fmt.Errorf("sim serve: --listen %q: %w; write HOST:PORT, e.g. 127.0.0.1:8443", o.listen, err)
	}
	return nil
}

// Run serves until ctx ends.
func (o *simServeOptions) Run(ctx context.Context) error {
	host, err := cluster.Open(o.root.stateDir, cluster.Options{GuestAgent: azurelocal.EmbeddedGuestAgent()})
	if err != nil {
		return err
	}
	defer host.Close()
	srv, err := arm.New(o.root.stateDir, host, arm.Options{})
	if err != nil {
		return err
	}
	base, err := srv.Start(ctx, o.listen)
	if err != nil {
		return err
	}
	w := o.root.stdout
	fmt.Fprintf(w, "ARM endpoint:   %s\n", base)
	fmt.Fprintf(w, "trust this CA:  %s\n", filepath.Join(o.root.stateDir, "tls", arm.CAFile))
	fmt.Fprintf(w, "token endpoint: %s\n", arm.TokenURL(base, arm.DefaultTenant))
	fmt.Fprintf(w, "custom location: %s\n", arm.DefaultCustomLocation)
	<-ctx.Done()
	if err := srv.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
