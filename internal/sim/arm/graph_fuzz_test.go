package arm

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzGraphRequest: any request body is parsed without a panic; what is
// accepted is the one served query shape, for one subscription, with a
// resource group name of ARM's characters (nothing that could end the KQL
// string literal).
func FuzzGraphRequest(f *testing.F) {
	f.Add(`{"subscriptions":["s"],"query":"Resources | where type =~ 'microsoft.azurestackhci/virtualmachineinstances' | where resourceGroup =~ 'rg' | order by id asc","options":{"$top":10}}`)
	f.Add(`{"subscriptions":["s"],"query":"resources|where type=~'microsoft.azurestackhci/virtualmachineinstances'|where resourcegroup=~'a(b).c'"}`)
	f.Add(`{"subscriptions":["s"],"query":"Resources | where resourceGroup =~ 'x' or 1==1","options":{"$skipToken":"a.b"}}`)
	f.Add(`{"query":7}`)
	s := &Server{tokenKey: []byte("fuzz")}
	f.Fuzz(func(t *testing.T, body string) {
		req, err := http.NewRequest(http.MethodPost, "https://x"+"/providers/Microsoft.ResourceGraph/resources", strings.NewReader(body))
		if err != nil {
			t.Skip()
		}
		q, aerr := s.parseGraph(req)
		if aerr != nil {
			if aerr.Status != http.StatusBadRequest || aerr.Message == "" {
				t.Fatalf("refused with %d %q", aerr.Status, aerr.Message)
			}
			return
		}
		if q.sub == "" || q.rg == "" || strings.ContainsAny(q.rg, `'"\|/ `) || q.top < 1 || q.top > graphMaxTop {
			t.Fatalf("accepted %+v from %q", q, body)
		}
	})
}
