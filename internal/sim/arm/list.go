package arm

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Lists are paged as ARM pages them: a page holds at most Options.PageSize
// members, and a list with more carries a nextLink, the same URL with a
// $skiptoken that says where the next page starts. The token names the
// last member served (its resource group and name) rather than a count, so
// a resource created or deleted between two pages neither repeats nor hides
// another; it is signed with the server's key and bound to the list it came
// from, so a garbled token, one for another list or one past skipTokenTTL
// is a 400 that says to list again from the first page.

// DefaultPageSize is the page size of a zero Options.PageSize: the most
// ARM's own resource lists return in one page.
const DefaultPageSize = 1000

// skipTokenTTL is how long a nextLink stays good.
const skipTokenTTL = time.Hour

// cursor is where a page ended: the resource group (subscription-wide lists
// only) and the name of its last member, lower-case as the store keeps them.
type cursor struct {
	Group string `json:"g,omitempty"`
	Name  string `json:"n"`
}

// after reports whether the member (group, name) comes after c.
func (c *cursor) after(group, name string) bool {
	if c == nil || group != c.Group {
		return c == nil || group > c.Group
	}
	return name > c.Name
}

// skipToken is what a $skiptoken carries, signed.
type skipToken struct {
	List   string `json:"l"` // the list's path, lower-case
	After  cursor `json:"a"`
	Issued int64  `json:"t"` // unix seconds
}

// collection is one directory a list reads, and the resource group it is in.
type collection struct {
	group string
	dir   string
}

// collections are what the call lists, in the order it lists them: its one
// collection, or for a subscription-wide list the kind's collection in every
// resource group, by name.
func (s *Server) collections(c *call) ([]collection, error) {
	if !c.subscriptionWide {
		return []collection{{dir: s.store.dir(c.collectionID())}}, nil
	}
	groups, err := os.ReadDir(s.store.dir("/subscriptions/" + c.sub + "/resourceGroups"))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	out := make([]collection, 0, len(groups))
	for _, g := range groups {
		if g.IsDir() {
			c.rg = g.Name()
			out = append(out, collection{group: g.Name(), dir: s.store.dir(c.collectionID())})
		}
	}
	c.rg = ""
	return out, nil
}

// page reads up to n records after from cols, and the cursor of the next
// page when more records follow.
func (st *store) page(cols []collection, after *cursor, n int) ([]*record, *cursor, error) {
	var out []*record
	var last cursor
	for _, col := range cols {
		if after != nil && col.group < after.Group {
			continue
		}
		entries, err := readDirIfAny(col.dir)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range entries {
			if !e.IsDir() || !after.after(col.group, e.Name()) {
				continue
			}
			file := filepath.Join(col.dir, e.Name(), resourceFile)
			if len(out) == n {
				if _, err := os.Stat(file); err == nil {
					return out, &last, nil
				}
				continue
			}
			rec, err := st.read(file)
			if err != nil {
				return nil, nil, err
			}
			if rec != nil {
				out = append(out, rec)
				last = cursor{Group: col.group, Name: e.Name()}
			}
		}
	}
	return out, nil, nil
}

func readDirIfAny(dir string) ([]os.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	return entries, err
}

// list answers a list with one page and, when more follow, its nextLink.
func (s *Server) list(c *call) error {
	if _, err := s.checkParent(c); err != nil {
		return err
	}
	after, aerr := s.readSkipToken(c)
	if aerr != nil {
		return aerr
	}
	cols, err := s.collections(c)
	if err != nil {
		return err
	}
	recs, next, err := s.store.page(cols, after, s.opts.PageSize)
	if err != nil {
		return err
	}
	value := make([]resource, 0, len(recs))
	for _, rec := range recs {
		if rec, err = s.settleRecord(c.r.Context(), rec); err != nil {
			return err
		}
		if rec != nil {
			value = append(value, rec.Resource)
		}
	}
	body := map[string]any{"value": value}
	if next != nil {
		body["nextLink"] = s.nextLink(c, *next)
	}
	writeJSON(c.w, http.StatusOK, body)
	return nil
}

func (s *Server) skipTokenMAC(payload []byte) []byte {
	key := hmac.New(sha256.New, s.tokenKey)
	key.Write([]byte("arm list skiptoken"))
	mac := hmac.New(sha256.New, key.Sum(nil))
	mac.Write(payload)
	return mac.Sum(nil)
}

// nextLink is the URL of the page after next: the list's own URL and
// api-version with a $skiptoken.
func (s *Server) nextLink(c *call, next cursor) string {
	tok := s.signSkipToken(skipToken{List: strings.ToLower(c.r.URL.Path), After: next, Issued: time.Now().Unix()})
	q := url.Values{"api-version": {c.r.URL.Query().Get("api-version")}, "$skiptoken": {tok}}
	return baseURLOf(c.r) + c.r.URL.EscapedPath() + "?" + q.Encode()
}

func (s *Server) signSkipToken(tok skipToken) string {
	payload, _ := json.Marshal(tok)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(s.skipTokenMAC(payload))
}

// readSkipToken is the cursor of the call's $skiptoken, nil without one, or
// the 400 for a token this list did not issue or that has expired.
func (s *Server) readSkipToken(c *call) (*cursor, *armError) {
	q := c.r.URL.Query()
	if _, ok := q["$skiptoken"]; !ok {
		return nil, nil
	}
	bad := badRequest("InvalidSkipToken",
		"the $skiptoken is not one this list issued (garbled, cut short, or from another list): list again from the first page, without $skiptoken, and follow each nextLink as it is")
	raw, mac, ok := strings.Cut(q.Get("$skiptoken"), ".")
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(raw)
	sig, err2 := enc.DecodeString(mac)
	if !ok || err1 != nil || err2 != nil || !hmac.Equal(sig, s.skipTokenMAC(payload)) {
		return nil, bad
	}
	var tok skipToken
	if err := json.Unmarshal(payload, &tok); err != nil || tok.List != strings.ToLower(c.r.URL.Path) {
		return nil, bad
	}
	if age := time.Since(time.Unix(tok.Issued, 0)); age > skipTokenTTL || age < -time.Minute {
		return nil, badRequest("InvalidSkipToken",
			"the $skiptoken has expired (a nextLink is good for %s): list again from the first page, without $skiptoken", skipTokenTTL)
	}
	return &tok.After, nil
}
