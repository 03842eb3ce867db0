package guestagent

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// OpenPath opens a TPM by path, for testing the agent outside a guest: a TPM
// character device (/dev/tpmrm0) or the unix socket of a TPM simulator's
// command channel (swtpm --server type=unixio), with the event log read from
// eventLog.
func OpenPath(tpmPath, eventLog string) (Channel, error) {
	fi, err := os.Stat(tpmPath)
	if err != nil {
		return nil, fmt.Errorf("guestagent: open the TPM %s: %w", tpmPath, err)
	}
	if fi.Mode()&os.ModeSocket != 0 {
		conn, err := net.DialTimeout("unix", tpmPath, 5*time.Second)
		if err != nil {
			return nil, fmt.Errorf("guestagent: connect to the TPM socket %s: %w", tpmPath, err)
		}
		return &socketChannel{conn: conn, logPath: eventLog}, nil
	}
	f, err := openDevice(tpmPath)
	if err != nil {
		return nil, fmt.Errorf("guestagent: open the TPM %s: %w", tpmPath, err)
	}
	return &fileChannel{File: f, logPath: eventLog}, nil
}

// fileChannel is a TPM character device and the event log file.
type fileChannel struct {
	*os.File
	logPath string
}

func (c *fileChannel) MeasurementLog() ([]byte, error) { return readLog(c.logPath) }

func readLog(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("guestagent: read the event log %s: %w (on Linux: is securityfs mounted at /sys/kernel/security?)", path, err)
	}
	return b, nil
}

// socketChannel is a TPM command stream socket: a command is written whole,
// and a response is read whole, by the size in its header, so that a Read
// returns one complete response as a device's does.
type socketChannel struct {
	conn     net.Conn
	logPath  string
	response []byte
}

// maxResponse bounds a response's claimed size (go-tpm's own limit).
const maxResponse = 4096

func (c *socketChannel) Write(cmd []byte) (int, error) {
	c.response = nil
	if _, err := c.conn.Write(cmd); err != nil {
		return 0, err
	}
	var hdr [10]byte
	if _, err := io.ReadFull(c.conn, hdr[:]); err != nil {
		return 0, fmt.Errorf("guestagent: read TPM response header: %w", err)
	}
	size := binary.BigEndian.Uint32(hdr[2:6])
	if size < 10 || size > maxResponse {
		return 0, fmt.Errorf("guestagent: TPM response claims %d bytes: not a TPM on that socket?", size)
	}
	rsp := make([]byte, size)
	copy(rsp, hdr[:])
	if _, err := io.ReadFull(c.conn, rsp[10:]); err != nil {
		return 0, fmt.Errorf("guestagent: read TPM response: %w", err)
	}
	c.response = rsp
	return len(cmd), nil
}

func (c *socketChannel) Read(p []byte) (int, error) {
	if len(c.response) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.response)
	c.response = c.response[n:]
	return n, nil
}

func (c *socketChannel) Close() error { return c.conn.Close() }

func (c *socketChannel) MeasurementLog() ([]byte, error) { return readLog(c.logPath) }
