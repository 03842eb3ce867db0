package plan

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// FileFormatGzip is the plan file format whose body is the plan JSON
// (format_version "2", compact) compressed with gzip. A fleet's plan repeats
// the same reasons, flags and parameters for every VM, so it compresses about
// thirtyfold: 10,000 VMs fit in a few MiB instead of 70. Read reads both
// formats; the plan JSON inside is the same contract either way.
const FileFormatGzip = "3"

// saveInlineMax is the largest indented plan JSON Save writes as it is
// (format "2"), so that a reviewer or jq reads a small plan file directly;
// a larger plan is written compressed (format "3"). About 150 VMs.
const saveInlineMax = 1 << 20

// errTooBig stops the inline attempt of Save once the body passes saveInlineMax.
var errTooBig = errors.New("plan body larger than the inline limit")

// capBuffer is a bytes.Buffer that refuses to grow past limit.
type capBuffer struct {
	bytes.Buffer
	limit int
}

func (c *capBuffer) Write(p []byte) (int, error) {
	if c.Len()+len(p) > c.limit {
		return 0, errTooBig
	}
	return c.Buffer.Write(p)
}

// Save writes p as `tlreconcile plan -out` saves it: format "2" (Write) while
// the plan JSON stays under 1 MiB, else format "3" (WriteGzip). Either way
// only one copy of the body is held, and for format "3" only its compressed
// bytes.
func Save(w io.Writer, p *Plan) error {
	inline := &capBuffer{limit: saveInlineMax}
	err := newJSONStream(inline, true).plan(p)
	switch {
	case err == nil:
		return writeSealed(w, FormatVersion, inline.Bytes())
	case !errors.Is(err, errTooBig):
		return fmt.Errorf("plan: write: %w", err)
	}
	return WriteGzip(w, p)
}

// WriteGzip writes p as a plan file of format "3": the header line (length
// and sha256 of the compressed body), then the compact plan JSON compressed
// with gzip. The JSON is encoded and compressed as it is produced, so that
// memory holds the compressed body, never the whole JSON.
func WriteGzip(w io.Writer, p *Plan) error {
	var body bytes.Buffer
	zw, err := gzip.NewWriterLevel(&body, gzip.BestSpeed)
	if err != nil {
		return fmt.Errorf("plan: write: %w", err)
	}
	if err := compressWhileEncoding(zw, p); err != nil {
		return fmt.Errorf("plan: write: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("plan: write: %w", err)
	}
	return writeSealed(w, FileFormatGzip, body.Bytes())
}

// chunkSize is what the encoder hands the compressor at a time.
const chunkSize = 64 << 10

// compressWhileEncoding encodes p's compact JSON on this goroutine and
// compresses it into zw on another, a few chunks behind: at 10,000 VMs each
// half takes ~0.1 s, and a second core is idle once the YAML is loaded. The
// bytes reach zw in order, so the file is the one a single goroutine writes.
func compressWhileEncoding(zw io.Writer, p *Plan) error {
	full := make(chan []byte, 4)
	free := make(chan []byte, 6)
	done := make(chan error, 1)
	go func() {
		var werr error
		for c := range full {
			if werr == nil {
				_, werr = zw.Write(c)
			}
			free <- c[:0]
		}
		done <- werr
	}()
	cw := &chunkWriter{full: full, free: free}
	err := newJSONStream(cw, false).plan(p)
	cw.flush()
	close(full)
	return errors.Join(err, <-done)
}

// chunkWriter cuts what it is written into chunks for compressWhileEncoding.
type chunkWriter struct {
	full, free chan []byte
	cur        []byte
}

func (c *chunkWriter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if c.cur == nil {
			select {
			case c.cur = <-c.free:
			default:
				c.cur = make([]byte, 0, chunkSize)
			}
		}
		k := min(len(b), chunkSize-len(c.cur))
		c.cur = append(c.cur, b[:k]...)
		b = b[k:]
		if len(c.cur) == chunkSize {
			c.flush()
		}
	}
	return n, nil
}

func (c *chunkWriter) flush() {
	if len(c.cur) > 0 {
		c.full <- c.cur
	}
	c.cur = nil
}

// inflateLimit bounds what a compressed body of n bytes may decompress to:
// a plan compresses about 16-fold (BenchmarkPlanFile10000VMs), so 100-fold
// leaves room while a small crafted file cannot inflate to gigabytes before
// it is refused; never more than maxPlanJSONBytes, never less than 1 MiB.
func inflateLimit(n int64) int64 {
	return min(maxPlanJSONBytes, max(1<<20, 100*n))
}

// decodeBody decodes a sealed body of the format its header names.
func decodeBody(h fileHeader, body []byte, p *Plan) error {
	if h.FormatVersion != FileFormatGzip {
		return json.Unmarshal(body, p)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("format %q body is not gzip: %w", FileFormatGzip, err)
	}
	limit := inflateLimit(int64(len(body)))
	js, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return fmt.Errorf("format %q body does not decompress: %w", FileFormatGzip, err)
	}
	if int64(len(js)) > limit {
		return fmt.Errorf("format %q body of %d bytes decompresses to more than %d bytes, more than any plan does", FileFormatGzip, len(body), limit)
	}
	return json.Unmarshal(js, p)
}
