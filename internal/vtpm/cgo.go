package vtpm

// ErrNoCgoMessage is what the reference TPM says in a binary built without
// cgo (ErrNoCgo there), so that tests built with cgo can look for it.
const ErrNoCgoMessage = "this tlreconcile was built without cgo: the embedded simulator is not available; build with CGO_ENABLED=1"
