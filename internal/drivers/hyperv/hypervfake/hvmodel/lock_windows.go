//go:build windows

package hvmodel

import (
	"os"

	"golang.org/x/sys/windows"
)

func flock(f *os.File) error {
	ol := new(windows.Overlapped)
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK, 0, 1, 0, ol)
}
