package arm

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Azure Resource Graph, the minimal subset a client needs to read every
// Azure Local VM instance of a resource group in pages instead of one GET
// per VM: POST /providers/Microsoft.ResourceGraph/resources?api-version=
// 2022-10-01 (operationId "Resources", the one fault injection matches).
//
// The spec bundle has no Resource Graph specification; the shapes follow
// Microsoft's public REST reference and its examples (QueryRequest:
// subscriptions, query, options {$top, $skip, $skipToken, resultFormat};
// QueryResponse: totalRecords, count, resultTruncated "true"/"false",
// $skipToken, data, facets). Only one query shape is served, the one the
// azurelocal driver sends (whitespace and case as KQL allows):
//
//	Resources
//	| where type =~ 'microsoft.azurestackhci/virtualmachineinstances'
//	| where resourceGroup =~ '<group>'
//	| order by id asc
//
// Any other query is a 400 InvalidQuery that says so. Only resultFormat
// objectArray is served (the default of api-version 2021-03-01 and later);
// each row is the resource as a GET serves it, with Resource Graph's
// lower-case type and its resourceGroup and subscriptionId columns. A page
// holds $top rows (default 100, at most 1,000, as Resource Graph's); a
// longer result carries a $skipToken that names the last row served and is
// signed and bound to the query, like the lists' (list.go). Unlike real
// Resource Graph, whose index trails ARM by seconds, the sim answers from
// the store itself: a row is as fresh as a GET.

// GraphAPIVersion is the Resource Graph api-version the sim serves.
const GraphAPIVersion = "2022-10-01"

const (
	graphDefaultTop = 100
	graphMaxTop     = 1000
	graphVMIType    = "microsoft.azurestackhci/virtualmachineinstances"
)

// graphQueryShape is the one query served; group 1 is the resource group.
var graphQueryShape = regexp.MustCompile(`(?is)^\s*resources\s*\|\s*where\s+type\s*=~\s*'microsoft\.azurestackhci/virtualmachineinstances'\s*` +
	`\|\s*where\s+resourcegroup\s*=~\s*'([-\w.()]{1,90})'\s*(?:\|\s*order\s+by\s+id\s+asc\s*)?$`)

type graphRequest struct {
	Subscriptions []string `json:"subscriptions"`
	Query         string   `json:"query"`
	Options       *struct {
		Top          *int   `json:"$top"`
		Skip         *int   `json:"$skip"`
		SkipToken    string `json:"$skipToken"`
		ResultFormat string `json:"resultFormat"`
	} `json:"options"`
}

type graphResponse struct {
	TotalRecords    int64            `json:"totalRecords"`
	Count           int64            `json:"count"`
	ResultTruncated string           `json:"resultTruncated"`
	SkipToken       string           `json:"$skipToken,omitempty"`
	Data            []map[string]any `json:"data"`
	Facets          []any            `json:"facets"`
}

// serveGraph answers POST /providers/Microsoft.ResourceGraph/resources.
func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, methodOnly(r.Method, http.MethodPost))
		return
	}
	if v := r.URL.Query().Get("api-version"); v != GraphAPIVersion {
		writeError(w, badRequest("InvalidApiVersionParameter",
			"The api-version '%s' is invalid. The simulated Azure Resource Graph serves api-version %s.", v, GraphAPIVersion))
		return
	}
	if _, ok := s.authenticate(w, r); !ok {
		return
	}
	eff, err := s.consume("Resources")
	if err != nil {
		writeError(w, asARM(err))
		return
	}
	if eff.apply(r.Context(), w) {
		return
	}
	resp, aerr := s.graph(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// graphQuery is a parsed request: whose VM instances, which page.
type graphQuery struct {
	sub, rg string
	top     int
	after   string // the machine (lower case) the page starts after; "" first
}

func (s *Server) parseGraph(r *http.Request) (graphQuery, *armError) {
	var req graphRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return graphQuery{}, badRequest("InvalidRequestContent", "the request content is not a Resource Graph QueryRequest: %v", err)
	}
	m := graphQueryShape.FindStringSubmatch(req.Query)
	if m == nil {
		return graphQuery{}, badRequest("InvalidQuery", "the simulated Azure Resource Graph serves one query: "+
			"Resources | where type =~ '%s' | where resourceGroup =~ '<group>' | order by id asc", graphVMIType)
	}
	if len(req.Subscriptions) != 1 || req.Subscriptions[0] == "" || strings.ContainsAny(req.Subscriptions[0], `/\.`) {
		return graphQuery{}, badRequest("InvalidRequestContent", "subscriptions must name exactly one subscription ID")
	}
	q := graphQuery{sub: strings.ToLower(req.Subscriptions[0]), rg: strings.ToLower(m[1]), top: graphDefaultTop}
	if o := req.Options; o != nil {
		if o.ResultFormat != "" && !eq(o.ResultFormat, "objectArray") {
			return graphQuery{}, badRequest("InvalidRequestContent", "options.resultFormat %q is not served: use objectArray", o.ResultFormat)
		}
		if o.Skip != nil && *o.Skip != 0 {
			return graphQuery{}, badRequest("InvalidRequestContent", "options.$skip is not served: page with $skipToken")
		}
		if o.Top != nil {
			if *o.Top < 1 || *o.Top > graphMaxTop {
				return graphQuery{}, badRequest("InvalidRequestContent", "options.$top is %d: use 1 to %d", *o.Top, graphMaxTop)
			}
			q.top = *o.Top
		}
		if o.SkipToken != "" {
			after, ok := s.readGraphToken(o.SkipToken, q.list())
			if !ok {
				return graphQuery{}, badRequest("InvalidSkipToken",
					"the $skipToken is not one this query issued, or it has expired: send the query again without $skipToken and pass each page's $skipToken as it is")
			}
			q.after = after
		}
	}
	return q, nil
}

// list is what a token is bound to: the query's scope.
func (q graphQuery) list() string { return "graph:" + q.sub + "/" + q.rg }

// graph reads the page of VM instances the request asks for.
func (s *Server) graph(r *http.Request) (*graphResponse, *armError) {
	q, aerr := s.parseGraph(r)
	if aerr != nil {
		return nil, aerr
	}
	machines := s.store.dir("/subscriptions/" + q.sub + "/resourceGroups/" + q.rg + "/providers/" + nsCompute + "/machines")
	entries, err := readDirIfAny(machines)
	if err != nil {
		return nil, asARM(err)
	}
	resp := &graphResponse{ResultTruncated: "false", Data: []map[string]any{}, Facets: []any{}}
	last := ""
	vmiFile := func(machine string) string {
		return filepath.Join(machines, machine, "providers", strings.ToLower(nsHCI), "virtualmachineinstances", "default", resourceFile)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		file := vmiFile(e.Name())
		if _, err := os.Stat(file); err != nil {
			continue
		}
		resp.TotalRecords++
		if e.Name() <= q.after {
			continue
		}
		if len(resp.Data) == q.top {
			if resp.SkipToken == "" {
				resp.SkipToken = s.signGraphToken(q.list(), last)
			}
			continue
		}
		row, err := s.graphRow(r, file, q)
		if err != nil {
			return nil, asARM(err)
		}
		if row != nil {
			resp.Data = append(resp.Data, row)
			last = e.Name()
		}
	}
	resp.Count = int64(len(resp.Data))
	return resp, nil
}

// graphRow is the row of one VM instance: the resource as a GET serves it
// (its create settled first, as a GET would) with Resource Graph's columns.
func (s *Server) graphRow(r *http.Request, file string, q graphQuery) (map[string]any, error) {
	rec, err := s.store.read(file)
	if err == nil {
		rec, err = s.settleRecord(r.Context(), rec)
	}
	if err != nil || rec == nil {
		return nil, err
	}
	raw, err := json.Marshal(rec.Resource)
	if err != nil {
		return nil, err
	}
	var row map[string]any
	if err := json.Unmarshal(raw, &row); err != nil {
		return nil, err
	}
	row["type"] = graphVMIType
	row["resourceGroup"], row["subscriptionId"] = q.rg, q.sub
	return row, nil
}

type graphToken struct {
	List   string `json:"l"`
	After  string `json:"a"`
	Issued int64  `json:"t"`
}

func (s *Server) signGraphToken(list, after string) string {
	payload, _ := json.Marshal(graphToken{List: list, After: after, Issued: time.Now().Unix()})
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(s.skipTokenMAC(payload))
}

// readGraphToken is the machine a token's page starts after, when the token
// is this server's, for this query, and not expired.
func (s *Server) readGraphToken(tok, list string) (string, bool) {
	raw, mac, ok := strings.Cut(tok, ".")
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(raw)
	sig, err2 := enc.DecodeString(mac)
	if !ok || err1 != nil || err2 != nil || !hmac.Equal(sig, s.skipTokenMAC(payload)) {
		return "", false
	}
	var t graphToken
	if err := json.Unmarshal(payload, &t); err != nil || t.List != list {
		return "", false
	}
	age := time.Since(time.Unix(t.Issued, 0))
	return t.After, age <= skipTokenTTL && age >= -time.Minute
}
