// Package simfs holds the file primitives the simulated Azure Local keeps
// its state with, one copy for the ARM store and the cluster model: an
// exclusive file lock that excludes goroutines and processes alike, and an
// atomic write (temporary file, fsync, rename, directory fsync) after which a
// reader, or a process killed mid-write, sees the old file or the new one. It
// knows nothing of what the files hold.
package simfs
