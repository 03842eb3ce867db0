package arm

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzSkipToken: a $skiptoken is outside input. Whatever it holds, reading
// it never panics, and only a token this server signed for this list is
// taken (anything else is the 400 InvalidSkipToken).
func FuzzSkipToken(f *testing.F) {
	s, err := New(f.TempDir(), &MemoryHost{}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	const path = "/subscriptions/s/resourceGroups/g/providers/Microsoft.HybridCompute/machines"
	good := s.signSkipToken(skipToken{List: strings.ToLower(path), After: cursor{Name: "m1"}, Issued: time.Now().Unix()})
	for _, seed := range []string{good, "", ".", "a.b", good[:len(good)/2], strings.ToUpper(good), good + "." + good, "%zz"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		req := httptest.NewRequest("GET", "https://sim"+path+"?"+url.Values{"$skiptoken": {tok}}.Encode(), nil)
		cur, aerr := s.readSkipToken(&call{r: req})
		if aerr != nil {
			if aerr.Status != 400 || aerr.Code != "InvalidSkipToken" {
				t.Fatalf("token %q: %v, want 400 InvalidSkipToken", tok, aerr)
			}
			return
		}
		raw, _, _ := strings.Cut(tok, ".")
		if cur == nil || !strings.HasPrefix(good, raw[:min(len(raw), 8)]) {
			t.Fatalf("token %q accepted as %+v: only a signed token may be", tok, cur)
		}
	})
}
