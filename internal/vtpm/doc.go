// Package vtpm reads the identity and state of a TPM 2.0 through any go-tpm
// transport (EK public fingerprints, sha256 PCRs 0-7, the NV index list) and
// provides the two real TPM backends the sim driver runs vTPMs on: the
// in-process Microsoft reference TPM (Reference, one per process, cgo) and a
// swtpm process per vTPM (StartSwtpm). It owns no policy: it never decides
// whether an identity is right, never stores anything outside the state
// directory it is given, and must not import plan, apply or any driver.
package vtpm
