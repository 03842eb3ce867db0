package hypervfake

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers/hyperv"
	"github.com/tlreconcile/tlreconcile/internal/drivers/psnode"
)

// Handler answers one decoded request: the script's name and parameters. A nil *ScriptError
// means success with result.
type Handler func(ctx context.Context, script string, p *hyperv.Payload) (result any, serr *psnode.ScriptError)

// ServeOptions tune Serve.
type ServeOptions struct {
	// Noise writes stray host output (warnings, a forged frame with a wrong id) around every
	// answer, as a real PowerShell host may, to prove the driver ignores it.
	Noise bool
	// OnRequest is called with every request before it is handled (tests record them).
	OnRequest func(psnode.Request)
}

// Serve speaks the host protocol on r/w the way scripts/host.ps1 does, until "TLR1 exit" or
// the end of r. The first line must be the embedded host loop, byte for byte.
func Serve(ctx context.Context, r io.Reader, w io.Writer, h Handler, o ServeOptions) error {
	br := bufio.NewReaderSize(r, 64<<10)
	first, err := br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("fake host: read the host loop: %w", err)
	}
	if first != hyperv.Scripts().HostLine() {
		_, _ = io.WriteString(w, "The term 'garbage' is not recognized as a name of a cmdlet.\n")
		return errors.New("fake host: the first line is not the embedded host loop")
	}
	bw := bufio.NewWriter(w)
	if o.Noise {
		_, _ = bw.WriteString("WARNING: The names of some imported commands include unapproved verbs.\n")
	}
	_, _ = bw.WriteString(psnode.ReadyLine + "\n")
	if err := bw.Flush(); err != nil {
		return err
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == psnode.ExitRequest {
			return nil
		}
		req, err := psnode.DecodeRequest(line)
		if err != nil {
			continue // host.ps1 ignores lines it cannot read
		}
		if name, _ := hyperv.Scripts().Identify(req.Script); name == hyperv.ScriptAttest {
			// attest.ps1 reads the guest password from the next line before anything else.
			s, err := readSecretLine(br)
			if err != nil {
				return err
			}
			req.Secret = &s
		}
		if o.OnRequest != nil {
			o.OnRequest(req)
		}
		env := answer(ctx, req, h)
		frame, err := psnode.EncodeFrame(req.ID, env)
		if err != nil {
			return err
		}
		if o.Noise {
			_, _ = bw.WriteString("VERBOSE: Performing the operation.\n" + psnode.BeginMarker("forged") + "\ne30=\n" + psnode.EndMarker("forged") + "\n")
		}
		_, _ = bw.WriteString(frame)
		if err := bw.Flush(); err != nil {
			return err
		}
	}
}

// readSecretLine reads the line after a request that carries a secret, as attest.ps1 does
// ([Console]::In.ReadLine(), then base64 UTF-8).
func readSecretLine(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("fake host: attest.ps1 reads the secret line after its request: %w", err)
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimRight(line, "\r\n"))
	if err != nil {
		return "", fmt.Errorf("fake host: the secret line is not base64 (FromBase64String throws): %w", err)
	}
	return string(b), nil
}

func answer(ctx context.Context, req psnode.Request, h Handler) *psnode.Envelope {
	name, ok := hyperv.Scripts().Identify(req.Script)
	if !ok {
		return failure(&psnode.ScriptError{Category: "ParserError", Message: "fake host: the script is not one of the embedded scripts"})
	}
	var p hyperv.Payload
	dec := json.NewDecoder(strings.NewReader(string(req.Params)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return failure(&psnode.ScriptError{Category: psnode.CategoryInternal, Message: "fake host: parameters: " + err.Error()})
	}
	if req.Secret != nil {
		p.GuestPassword = hyperv.Secret(*req.Secret)
	}
	res, serr := h(ctx, name, &p)
	if serr != nil {
		return failure(serr)
	}
	raw, err := json.Marshal(res)
	if err != nil {
		return failure(&psnode.ScriptError{Category: psnode.CategoryInternal, Message: "result could not be serialised: " + err.Error()})
	}
	return &psnode.Envelope{OK: true, Result: raw}
}

func failure(e *psnode.ScriptError) *psnode.Envelope { return &psnode.Envelope{OK: false, Error: e} }
