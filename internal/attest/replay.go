package attest

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"strings"

	ga "github.com/google/go-attestation/attest"
)

const evNoAction = 0x00000003 // EV_NO_ACTION: informational, never extended

// replayLog parses the event log and replays it against pcrs (in log-only
// mode, against the values the log itself implies). It returns the verified
// events, or nil when the log does not replay.
//
// go-attestation's rules, which the verifier takes: a PCR is verified when
// the log replays to its value in one of the quoted banks (a log in the SHA-1
// format replays only against SHA-1 PCRs), and a quoted PCR the log has no
// events for is not replayed at all (PCR 10 of a Linux kernel with IMA, which
// no firmware log holds): nothing is read from such a PCR, so neither hides a
// boot component, which would have to be missing from the log in every bank.
func replayLog(r *Result, ev Evidence, pcrs []ga.PCR) []ga.Event {
	if len(ev.EventLog) == 0 {
		r.fail(CodeLogParse, "the attestation has no event_log: the agent must send the TCG event log")
		return nil
	}
	el, err := ga.ParseEventLog(ev.EventLog)
	if err != nil {
		r.fail(CodeLogParse, "the event log does not parse as a TCG log: %v", err)
		return nil
	}
	if r.Mode == ModeLogOnly {
		pcrs = impliedPCRs(el)
	}
	events, err := el.Verify(pcrs)
	var re ga.ReplayError
	switch {
	case errors.As(err, &re):
		for _, idx := range re.InvalidPCRs {
			r.fail(CodeLogReplay, "%s", replayMismatch(el, pcrs, idx))
		}
		return nil
	case err != nil:
		r.fail(CodeLogReplay, "the event log does not replay to the PCR values: %v", err)
		return nil
	}
	r.LogReplayOK = true
	r.Events = len(events)
	return events
}

// replayMismatch names, for PCR idx, the value the log replays to and the
// value the attestation has, per bank.
func replayMismatch(el *ga.EventLog, pcrs []ga.PCR, idx int) string {
	var parts []string
	for _, p := range pcrs {
		if p.Index != idx {
			continue
		}
		alg, ok := gaHash(p.DigestAlg)
		if !ok {
			continue
		}
		got := replayPCR(el.Events(alg), p.DigestAlg, idx)
		parts = append(parts, fmt.Sprintf("%s: the event log replays to %x, the attestation says %x", hashName(p.DigestAlg), got, p.Digest))
	}
	return fmt.Sprintf("PCR %d does not match its events (%s): an event or the PCR value was changed", idx, strings.Join(parts, "; "))
}

// impliedPCRs replays the log per bank it records, PCRs 0-23.
func impliedPCRs(el *ga.EventLog) []ga.PCR {
	var out []ga.PCR
	for _, alg := range el.Algs {
		h, ok := cryptoHash(alg)
		if !ok {
			continue
		}
		events := el.Events(alg)
		for idx := 0; idx < 24; idx++ {
			out = append(out, ga.PCR{Index: idx, Digest: replayPCR(events, h, idx), DigestAlg: h})
		}
	}
	return out
}

// replayPCR extends PCR idx with the digests of its events, as the TPM did;
// PCR 0 starts at the locality a StartupLocality event names.
func replayPCR(events []ga.Event, h crypto.Hash, idx int) []byte {
	v := make([]byte, h.Size())
	for _, e := range events {
		if e.Index != idx {
			continue
		}
		if e.Type == evNoAction {
			if idx == 0 && len(e.Data) == 17 && bytes.HasPrefix(e.Data, []byte("StartupLocality")) {
				v[len(v)-1] = e.Data[16]
			}
			continue
		}
		if len(e.Digest) != h.Size() {
			continue
		}
		x := h.New()
		x.Write(v)
		x.Write(e.Digest)
		v = x.Sum(nil)
	}
	return v
}

func gaHash(h crypto.Hash) (ga.HashAlg, bool) {
	switch h {
	case crypto.SHA1:
		return ga.HashSHA1, true
	case crypto.SHA256:
		return ga.HashSHA256, true
	}
	return 0, false
}

func cryptoHash(a ga.HashAlg) (crypto.Hash, bool) {
	switch a {
	case ga.HashSHA1:
		return crypto.SHA1, true
	case ga.HashSHA256:
		return crypto.SHA256, true
	}
	return 0, false
}
