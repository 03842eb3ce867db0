package guestagent

import (
	"fmt"
	"io"

	"github.com/google/go-tpm/tpmutil"
	"github.com/google/go-tpm/tpmutil/tbs"
)

// Open opens the guest's TPM through TBS (the TPM Base Services), the way
// every Windows program shares the TPM, and reads the event log TBS keeps.
func Open() (Channel, error) {
	ctx, err := tbs.CreateContext(tbs.TPMVersion20, tbs.IncludeTPM20)
	if err != nil {
		return nil, fmt.Errorf("guestagent: open the TPM through TBS: %w (is this a VM with a vTPM enabled?)", err)
	}
	return &tbsChannel{ReadWriteCloser: tpmutil.FromContext(ctx), ctx: ctx}, nil
}

type tbsChannel struct {
	io.ReadWriteCloser
	ctx tbs.Context
}

func (c *tbsChannel) MeasurementLog() ([]byte, error) {
	n, err := c.ctx.GetTCGLog(nil)
	if err != nil {
		return nil, fmt.Errorf("guestagent: size of the TBS event log: %w", err)
	}
	buf := make([]byte, n)
	n, err = c.ctx.GetTCGLog(buf)
	if err != nil {
		return nil, fmt.Errorf("guestagent: read the TBS event log: %w", err)
	}
	return buf[:n], nil
}
