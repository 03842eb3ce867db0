package guestagent

import (
	"bytes"
	"errors"

	"github.com/google/go-tpm/tpm2/transport"
)

// OverTransport is a Channel over a go-tpm transport whose event log is
// log: a simulated guest's vTPM (a reference TPM its boot was measured
// into), for the simulated hosts that run this agent in their guests.
func OverTransport(tr transport.TPM, log []byte) Channel {
	return &trChannel{tr: tr, log: log}
}

type trChannel struct {
	tr   transport.TPM
	log  []byte
	resp bytes.Buffer
}

// Write sends one TPM command; the next Read returns its response.
func (c *trChannel) Write(cmd []byte) (int, error) {
	if c.tr == nil {
		return 0, errors.New("guest agent: the TPM channel is closed")
	}
	rsp, err := c.tr.Send(cmd)
	if err != nil {
		return 0, err
	}
	c.resp.Reset()
	c.resp.Write(rsp)
	return len(cmd), nil
}

func (c *trChannel) Read(p []byte) (int, error) { return c.resp.Read(p) }

// Close ends the channel; the transport stays its owner's.
func (c *trChannel) Close() error {
	c.tr = nil
	return nil
}

// MeasurementLog is the event log (go-attestation's CommandChannelTPM20).
func (c *trChannel) MeasurementLog() ([]byte, error) { return bytes.Clone(c.log), nil }
