// Package golden is the one golden-file helper of the repository: tests pass
// their rendered output to Check, which compares it with a file under
// testdata/ and, when the test binary runs with -update, rewrites that file
// instead. It owns the single -update flag (registered on the test binary's
// command line when the package is loaded; that flag is the package's only
// state), and it must only be imported from _test.go files, never from code
// that ships in the tlreconcile binary. Refresh every golden file with
// `make golden`; review the diff before committing it.
package golden
