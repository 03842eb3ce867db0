package guestboot

import (
	"bytes"
	"crypto"
	_ "crypto/sha1" // the hashes of event log banks
	_ "crypto/sha256"
	_ "crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/go-attestation/attest"
)

// Measurement is one event to extend: the PCR and the event's digest in
// every bank the log has.
type Measurement struct {
	PCR     int
	Type    uint32
	Digests map[crypto.Hash][]byte
}

// Boot is what one boot measured: the log bytes the guest reads (firmware
// log plus the extra components' events) and the measurements to extend, in
// log order.
type Boot struct {
	Log          []byte
	Algs         []crypto.Hash
	Measurements []Measurement
}

// MaxComponent is the longest extra boot component name, in characters.
const MaxComponent = 200

// CheckComponent says what is wrong with an extra boot component's name, or
// nil: a file path of 1 to MaxComponent printable characters.
func CheckComponent(name string) error {
	switch {
	case name == "":
		return errors.New("boot component: the name is empty: give the path of the boot application, e.g. \\EFI\\Boot\\extra.efi")
	case !utf8.ValidString(name):
		return errors.New("boot component: the name is not valid UTF-8")
	case utf8.RuneCountInString(name) > MaxComponent:
		return fmt.Errorf("boot component: the name has more than %d characters", MaxComponent)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("boot component: the name has the non-printable character %U: use a plain file path", r)
		}
	}
	return nil
}

// New returns the boot of the embedded log name with extra boot components
// measured after it, each an EV_EFI_BOOT_SERVICES_APPLICATION event in PCR 4
// whose image is the component's name (the sim has no binaries), so its
// digest in each bank is the hash of the name.
func New(name string, extra []string) (*Boot, error) {
	base, err := raw(name)
	if err != nil {
		return nil, err
	}
	log := bytes.Clone(base)
	for _, c := range extra {
		if log, err = AppendComponent(log, c); err != nil {
			return nil, err
		}
	}
	return Parse(log)
}

// Parse reads a log with go-attestation's parser and lists what a boot
// extends: every event but EV_NO_ACTION, with its digest in each bank.
func Parse(log []byte) (*Boot, error) {
	el, err := attest.ParseEventLog(log)
	if err != nil {
		return nil, fmt.Errorf("guestboot: parse event log: %w", err)
	}
	b := &Boot{Log: log}
	var banks [][]attest.Event
	for _, a := range el.Algs {
		h, ok := hashOf(a)
		if !ok {
			continue
		}
		b.Algs = append(b.Algs, h)
		banks = append(banks, el.Events(a))
	}
	if len(banks) == 0 {
		return nil, errors.New("guestboot: the event log has no digest bank this sim knows (SHA-1, SHA-256, SHA-384, SHA-512)")
	}
	for i, ev := range banks[0] {
		if ev.Type == evNoAction {
			continue
		}
		m := Measurement{PCR: ev.Index, Type: uint32(ev.Type), Digests: map[crypto.Hash][]byte{}}
		for j, h := range b.Algs {
			if d := banks[j][i].Digest; len(d) > 0 {
				m.Digests[h] = d
			}
		}
		b.Measurements = append(b.Measurements, m)
	}
	return b, nil
}

// AppendComponent returns log with one more event: the boot application
// component measured into PCR 4, in the log's own format and banks.
func AppendComponent(log []byte, component string) ([]byte, error) {
	if err := CheckComponent(component); err != nil {
		return nil, err
	}
	el, err := attest.ParseEventLog(log)
	if err != nil {
		return nil, fmt.Errorf("guestboot: parse event log: %w", err)
	}
	data := imageLoadEvent(component)
	var out bytes.Buffer
	out.Write(log)
	put := func(v any) { _ = binary.Write(&out, binary.LittleEndian, v) }
	put(uint32(bootComponentPCR))
	put(uint32(evBootServicesApp))
	if !cryptoAgile(log) {
		d := crypto.SHA1.New()
		d.Write([]byte(component))
		out.Write(d.Sum(nil))
	} else {
		put(uint32(len(el.Algs)))
		for _, a := range el.Algs {
			h, ok := hashOf(a)
			if !ok {
				return nil, fmt.Errorf("guestboot: the event log has digest algorithm %#x, which the sim cannot compute", uint16(a))
			}
			put(uint16(a))
			d := h.New()
			d.Write([]byte(component))
			out.Write(d.Sum(nil))
		}
	}
	put(uint32(len(data)))
	out.Write(data)
	return out.Bytes(), nil
}

// imageLoadEvent is a UEFI_IMAGE_LOAD_EVENT for a boot application loaded
// from path: location, length and link address of the image, then its device
// path, a media file path node and the end node (UEFI 2.x, 10.3.5.4).
func imageLoadEvent(path string) []byte {
	name := utf16.Encode([]rune(path + "\x00"))
	var dp bytes.Buffer
	put := func(w *bytes.Buffer, v any) { _ = binary.Write(w, binary.LittleEndian, v) }
	put(&dp, [2]uint8{0x04, 0x04}) // media device path, file path
	put(&dp, uint16(4+2*len(name)))
	put(&dp, name)
	put(&dp, [4]uint8{0x7f, 0xff, 0x04, 0x00}) // end of the whole path
	var ev bytes.Buffer
	put(&ev, uint64(0))         // ImageLocationInMemory
	put(&ev, uint64(len(path))) // ImageLengthInMemory
	put(&ev, uint64(0))         // ImageLinkTimeAddress
	put(&ev, uint64(dp.Len()))  // LengthOfDevicePath
	ev.Write(dp.Bytes())
	return ev.Bytes()
}

// Replay is what the PCRs of bank h hold after this boot, starting from
// zeros: for each PCR with events, the fold of its digests. PCRs without an
// event are absent (they keep their reset value).
func (b *Boot) Replay(h crypto.Hash) map[int][]byte {
	out := map[int][]byte{}
	for _, m := range b.Measurements {
		d, ok := m.Digests[h]
		if !ok {
			continue
		}
		cur, ok := out[m.PCR]
		if !ok {
			cur = make([]byte, h.Size())
		}
		x := h.New()
		x.Write(cur)
		x.Write(d)
		out[m.PCR] = x.Sum(nil)
	}
	return out
}
