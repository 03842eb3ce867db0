package guestagent

import (
	"errors"
	"io"

	ga "github.com/google/go-attestation/attest"
	"github.com/google/go-tpm/tpm2/transport"
)

// Channel is the TPM the agent talks to and the event log of the boot it
// measured: go-attestation's command channel. Open returns the OS's; a
// simulated guest passes its vTPM through FromTransport.
type Channel = ga.CommandChannelTPM20

// FromTransport makes a Channel of a go-tpm transport (the sim's vTPM, a
// swtpm socket) and the event log its firmware wrote. Closing the Channel
// does not close tr: its owner does.
func FromTransport(tr transport.TPM, eventLog []byte) Channel {
	return &transportChannel{tr: tr, log: eventLog}
}

// transportChannel is a go-tpm transport as the io.ReadWriter go-attestation
// writes commands to and reads responses from. (go-tpm's own
// transport.ToReadWriter returns io.EOF with the last bytes of a response,
// which its legacy command runner takes for a failed read.)
type transportChannel struct {
	tr       transport.TPM
	log      []byte
	response []byte
}

func (c *transportChannel) Write(cmd []byte) (int, error) {
	rsp, err := c.tr.Send(cmd)
	if err != nil {
		c.response = nil
		return 0, err
	}
	c.response = rsp
	return len(cmd), nil
}

func (c *transportChannel) Read(p []byte) (int, error) {
	if len(c.response) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.response)
	c.response = c.response[n:]
	return n, nil
}

func (c *transportChannel) Close() error { return nil }

func (c *transportChannel) MeasurementLog() ([]byte, error) {
	if len(c.log) == 0 {
		return nil, errors.New("guestagent: this TPM came without an event log: pass the firmware's log to FromTransport")
	}
	return c.log, nil
}

// tpmTransport is the go-tpm view of a Channel, for the commands
// go-attestation does not offer (the ECC EK's public area, activation with
// it).
func tpmTransport(ch Channel) transport.TPM {
	if c, ok := ch.(*transportChannel); ok {
		return c.tr
	}
	return transport.FromReadWriter(ch)
}
