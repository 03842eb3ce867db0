package cluster

import (
	"context"
	"fmt"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// DefaultAgent is the guest agent of a simulated guest until a real one is
// plugged in. It runs a script line by line, each line a command and its
// arguments separated by blanks (no quoting, no variables: parameters stay
// data in RunRequest.Parameters); empty lines and lines starting with # are
// skipped; the first failing line ends the script with its exit code, as
// `set -e` does. A script that is empty runs the CommandID as its one line.
// Commands:
//
//	hostname   the guest's computer name
//	echo ARGS  ARGS joined by one blank
//	tpm-ek     the hex sha256 of the vTPM's ECC EK public area (the identity Observe reports)
//	tpm-pcrs   the vTPM's SHA-256 PCRs 0-7, one "N HEX" line each
//
// Anything else exits 127 with "NAME: command not found" on stderr, as a
// shell does.
type DefaultAgent struct{}

// Run runs req's script in g.
func (DefaultAgent) Run(ctx context.Context, g *Guest, req RunRequest) (RunResult, error) {
	script := req.Script
	if strings.TrimSpace(script) == "" {
		script = req.CommandID
	}
	var res RunResult
	var out, errs strings.Builder
	for _, line := range strings.Split(script, "\n") {
		if err := ctx.Err(); err != nil {
			return RunResult{}, err
		}
		args := strings.Fields(line)
		if len(args) == 0 || strings.HasPrefix(args[0], "#") {
			continue
		}
		code, err := runLine(g, args, &out, &errs)
		if err != nil {
			return RunResult{}, err
		}
		if code != 0 {
			res.ExitCode = code
			break
		}
	}
	res.Stdout, res.Stderr = out.String(), errs.String()
	return res, nil
}

// runLine runs one command; the error is a failure of the guest's TPM.
func runLine(g *Guest, args []string, out, errs *strings.Builder) (int, error) {
	switch args[0] {
	case "hostname":
		fmt.Fprintln(out, g.ComputerName)
	case "echo":
		fmt.Fprintln(out, strings.Join(args[1:], " "))
	case "tpm-ek", "tpm-pcrs":
		if g.TPM() == nil {
			fmt.Fprintf(errs, "%s: this VM has no TPM\n", args[0])
			return 1, nil
		}
		return 0, tpmCommand(g, args[0], out)
	default:
		fmt.Fprintf(errs, "%s: command not found\n", args[0])
		return 127, nil
	}
	return 0, nil
}

func tpmCommand(g *Guest, name string, out *strings.Builder) error {
	if name == "tpm-ek" {
		ek, err := vtpm.EKFingerprint(g.TPM(), vtpm.ECC)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, ek)
		return nil
	}
	pcrs, err := vtpm.ReadPCRs(g.TPM())
	if err != nil {
		return err
	}
	for i, p := range pcrs {
		fmt.Fprintf(out, "%d %s\n", i, p)
	}
	return nil
}
