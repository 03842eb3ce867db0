package e2eboot

import (
	"fmt"
	"io"
	"strings"
)

// CPIOEntry is one file of an initramfs: a directory, a regular file or a
// character device node.
type CPIOEntry struct {
	Name string // path inside the archive, without a leading slash
	Mode uint32 // permission bits and type (CPIODir, CPIOFile, CPIOChar)
	Data []byte // a regular file's contents
	// Major and Minor are a device node's numbers.
	Major, Minor uint32
}

// The file types of CPIOEntry.Mode (S_IFDIR, S_IFREG, S_IFCHR).
const (
	CPIODir  = 0o040000
	CPIOFile = 0o100000
	CPIOChar = 0o020000
)

// WriteCPIO writes entries as the "newc" cpio archive the kernel unpacks
// into its initramfs (Documentation/driver-api/early-userspace/buffer-format.rst),
// then the trailer. Every file is owned by root; parents come before
// children because the caller lists them so.
func WriteCPIO(w io.Writer, entries []CPIOEntry) error {
	for i, e := range entries {
		if e.Name == "" || strings.HasPrefix(e.Name, "/") || e.Name == "TRAILER!!!" {
			return fmt.Errorf("e2eboot: cpio entry %d: name %q: give a relative path", i, e.Name)
		}
		if e.Mode&CPIOFile == 0 && len(e.Data) > 0 {
			return fmt.Errorf("e2eboot: cpio entry %s: only a regular file has contents", e.Name)
		}
		if err := writeCPIOEntry(w, uint32(i+1), e); err != nil {
			return err
		}
	}
	return writeCPIOEntry(w, 0, CPIOEntry{Name: "TRAILER!!!"})
}

func writeCPIOEntry(w io.Writer, ino uint32, e CPIOEntry) error {
	nlink := uint32(1)
	if e.Mode&CPIODir != 0 {
		nlink = 2
	}
	// magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
	// rdevmajor, rdevminor, namesize, check: 8 hex digits each.
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, e.Mode, 0, 0, nlink, 0, len(e.Data), 0, 0, e.Major, e.Minor, len(e.Name)+1, 0)
	buf := make([]byte, 0, len(hdr)+len(e.Name)+8)
	buf = append(buf, hdr...)
	buf = append(buf, e.Name...)
	buf = append(buf, 0)
	buf = pad4(buf)
	if _, err := w.Write(buf); err != nil {
		return err
	}
	if len(e.Data) == 0 {
		return nil
	}
	if _, err := w.Write(e.Data); err != nil {
		return err
	}
	_, err := w.Write(make([]byte, (4-len(e.Data)%4)%4))
	return err
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
