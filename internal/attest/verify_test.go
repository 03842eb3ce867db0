package attest_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tlreconcile/tlreconcile/internal/attest"
)

func TestDumpWindows(t *testing.T) {
	r, err := attest.Verify(windowsEvidence(t), attest.VerifyOptions{})
	b, _ := json.MarshalIndent(r, "", "  ")
	fmt.Println(string(b), err)
}
