package vtpm_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// needTools skips the test when a binary is missing, except in CI (CI set),
// where a missing tool is a broken pipeline and fails the test.
func needTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			msg := tool + " is not installed: run `" + vtpm.SwtpmInstallHint + "` (CI installs them through make)"
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// extendPCR extends sha256 PCR pcr with sha256(data) and returns the value the
// PCR must now hold, computed here independently of the TPM.
func extendPCR(t testing.TB, tr transport.TPM, pcr uint32, old string, data []byte) string {
	t.Helper()
	digest := sha256.Sum256(data)
	_, err := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)},
		Digests: tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{
			HashAlg: tpm2.TPMAlgSHA256, Digest: digest[:],
		}}},
	}.Execute(tr)
	if err != nil {
		t.Fatalf("pcr_extend %d: %v", pcr, err)
	}
	prev, err := hex.DecodeString(old)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(append(prev, digest[:]...))
	return hex.EncodeToString(want[:])
}

// defineNV defines an owner-authorised NV index of 8 bytes.
func defineNV(t testing.TB, tr transport.TPM, index uint32) {
	t.Helper()
	_, err := tpm2.NVDefineSpace{
		AuthHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		PublicInfo: tpm2.New2B(tpm2.TPMSNVPublic{
			NVIndex:    tpm2.TPMHandle(index),
			NameAlg:    tpm2.TPMAlgSHA256,
			Attributes: tpm2.TPMANV{OwnerWrite: true, OwnerRead: true, AuthRead: true, AuthWrite: true, NT: tpm2.TPMNTOrdinary, NoDA: true},
			DataSize:   8,
		}),
	}.Execute(tr)
	if err != nil {
		t.Fatalf("nv_definespace %#x: %v", index, err)
	}
}

// persistPrimary creates a primary key from template under hierarchy, makes it
// persistent at handle, and returns the fingerprint of its public area.
func persistPrimary(t testing.TB, tr transport.TPM, hierarchy tpm2.TPMHandle, template tpm2.TPMTPublic, handle tpm2.TPMHandle) string {
	t.Helper()
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: hierarchy, Auth: tpm2.PasswordAuth(nil)},
		InPublic:      tpm2.New2B(template),
	}.Execute(tr)
	if err != nil {
		t.Fatalf("create primary: %v", err)
	}
	defer func() {
		if _, err := (tpm2.FlushContext{FlushHandle: rsp.ObjectHandle}).Execute(tr); err != nil {
			t.Errorf("flush: %v", err)
		}
	}()
	_, err = tpm2.EvictControl{
		Auth:             tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		ObjectHandle:     tpm2.NamedHandle{Handle: rsp.ObjectHandle, Name: rsp.Name},
		PersistentHandle: handle,
	}.Execute(tr)
	if err != nil {
		t.Fatalf("evict control to %#x: %v", uint32(handle), err)
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		t.Fatal(err)
	}
	return vtpm.Fingerprint(*pub)
}
