package cluster

import (
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/sim/guestboot"
)

// maxBoots bounds the parsed boots a Host keeps: one per embedded log and
// planted component list in use, which real runs keep to a handful.
const maxBoots = 64

// parsedBoot is guestboot.New(log, extra), parsed once per Host: every boot
// and every entry into a guest replays the same few logs, and parsing one
// (the Windows log is JSON around the binary log) cost a quarter of a
// placement. The Boot returned is shared and must not be changed; every
// caller only reads it (Boot.Extend, and Guest.EventLog hands out copies).
func (h *Host) parsedBoot(log string, extra []string) (*guestboot.Boot, error) {
	key := log + "\x00" + strings.Join(extra, "\x00")
	h.mu.Lock()
	b, ok := h.boots[key]
	h.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := guestboot.New(log, extra)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.boots == nil || len(h.boots) >= maxBoots {
		h.boots = map[string]*guestboot.Boot{}
	}
	h.boots[key] = b
	return b, nil
}
