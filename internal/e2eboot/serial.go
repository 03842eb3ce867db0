package e2eboot

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// The markers guestinit frames its output with on the serial console.
const (
	BeginMarker = "-----BEGIN TLRECONCILE EVIDENCE-----"
	EndMarker   = "-----END TLRECONCILE EVIDENCE-----"
	FailMarker  = "TLRECONCILE GUEST FAILED:"
)

// maxEvidence bounds the decoded evidence: a Linux boot's is tens of KiB.
const maxEvidence = 16 << 20

// ExtractEvidence returns the evidence JSON guestinit printed on the serial
// console: the base64 between the markers, skipping lines that are not
// base64 (a kernel message that got between them). A guest that failed says
// why after FailMarker, and that is the error.
func ExtractEvidence(serial []byte) ([]byte, error) {
	if i := bytes.Index(serial, []byte(FailMarker)); i >= 0 {
		line, _, _ := strings.Cut(string(serial[i+len(FailMarker):]), "\n")
		return nil, fmt.Errorf("e2eboot: the guest agent failed: %s", strings.TrimSpace(line))
	}
	_, rest, ok := bytes.Cut(serial, []byte(BeginMarker))
	if !ok {
		return nil, errors.New("e2eboot: no evidence on the serial console (the guest did not reach its init: see the console log)")
	}
	body, _, ok := bytes.Cut(rest, []byte(EndMarker))
	if !ok {
		return nil, errors.New("e2eboot: the evidence on the serial console has no end marker: the guest stopped while printing it")
	}
	var b64 strings.Builder
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimRight(line, "\r")
		if isBase64Line(line) {
			b64.WriteString(line)
		}
	}
	if b64.Len() > base64.StdEncoding.EncodedLen(maxEvidence) {
		return nil, fmt.Errorf("e2eboot: the evidence is larger than %d bytes", maxEvidence)
	}
	out, err := base64.StdEncoding.DecodeString(b64.String())
	if err != nil {
		return nil, fmt.Errorf("e2eboot: the evidence on the serial console is not base64: %w", err)
	}
	return out, nil
}

func isBase64Line(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '+', r == '/', r == '=':
		default:
			return false
		}
	}
	return true
}
