package arm

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tlreconcile/tlreconcile/internal/sim/simfs"
)

// tokenLifetime is how long an access token the sim issues stays valid.
const tokenLifetime = time.Hour

// claims is what a sim token says: who it was issued to, in which tenant, and
// until when. Tokens are HMAC-signed with a key kept in the state dir, so any
// Server on that state dir accepts the tokens any other one issued.
type claims struct {
	Tenant   string `json:"tid"`
	ClientID string `json:"appid"`
	Expires  int64  `json:"exp"`
}

func loadOrCreateKey(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	unlock, err := simfs.Lock(path + ".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		return key, simfs.WriteFileAtomic(path, key, 0o600)
	}
	return key, err
}

func (s *Server) sign(c claims) string {
	body, _ := json.Marshal(c)
	enc := base64.RawURLEncoding
	mac := hmac.New(sha256.New, s.tokenKey)
	mac.Write(body)
	return "sim." + enc.EncodeToString(body) + "." + enc.EncodeToString(mac.Sum(nil))
}

// verify returns the claims of a token this sim issued and has not expired.
func (s *Server) verify(tok string) (claims, error) {
	var c claims
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[0] != "sim" {
		return c, errors.New("the access token is not one the simulated identity endpoint issued")
	}
	enc := base64.RawURLEncoding
	body, err1 := enc.DecodeString(parts[1])
	sig, err2 := enc.DecodeString(parts[2])
	mac := hmac.New(sha256.New, s.tokenKey)
	mac.Write(body)
	if err1 != nil || err2 != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return c, errors.New("the access token's signature is invalid")
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return c, errors.New("the access token is malformed")
	}
	if time.Now().Unix() >= c.Expires {
		return c, errors.New("the access token has expired")
	}
	return c, nil
}

// authenticate checks the bearer token of an ARM request; on failure it
// answers 401 with the WWW-Authenticate challenge ARM sends.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (claims, bool) {
	fail := func(code, msg string) (claims, bool) {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization_uri="%s/%s", error="invalid_token", error_description="%s"`,
			baseURLOf(r), s.opts.Tenant, msg))
		writeError(w, errf(http.StatusUnauthorized, code, "%s", msg))
		return claims{}, false
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return fail("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
	}
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return fail("AuthenticationFailed", "Authentication failed. The 'Authorization' header is not a Bearer token.")
	}
	c, err := s.verify(strings.TrimSpace(tok))
	if err != nil {
		return fail("InvalidAuthenticationToken", err.Error())
	}
	return c, true
}

func baseURLOf(r *http.Request) string { return "https://" + r.Host }

// oauthError is the body of an OAuth2 error answer (RFC 6749 §5.2).
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// handleToken is the OAuth2 client-credentials token endpoint,
// /{tenant}/oauth2/v2.0/token.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request, tenant string) {
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "the token endpoint takes POST")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q is not supported: use client_credentials", gt))
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if id == "" || secret == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "client_id and client_secret are required")
		return
	}
	if want, ok := s.opts.Clients[id]; len(s.opts.Clients) > 0 && (!ok || want != secret) {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
		return
	}
	c := claims{Tenant: tenant, ClientID: id, Expires: time.Now().Add(tokenLifetime).Unix()}
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     int(tokenLifetime.Seconds()),
		"ext_expires_in": int(tokenLifetime.Seconds()),
		"access_token":   s.sign(c),
	})
}

// handleOpenIDConfig answers /{tenant}/v2.0/.well-known/openid-configuration,
// the tenant discovery MSAL does before it asks for a token.
func (s *Server) handleOpenIDConfig(w http.ResponseWriter, r *http.Request, tenant string) {
	base := baseURLOf(r) + "/" + tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base + "/v2.0",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_types_supported":              []string{"code", "id_token", "token id_token", "token"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post"},
		"tenant_region_scope":                   nil,
	})
}

// handleInstanceDiscovery answers /common/discovery/instance, which MSAL asks
// of an authority host it does not know unless instance discovery is off.
func (s *Server) handleInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	tenant := s.opts.Tenant
	if ep := r.URL.Query().Get("authorization_endpoint"); ep != "" {
		// https://host/{tenant}/oauth2/v2.0/authorize
		if parts := strings.Split(strings.TrimPrefix(ep, "https://"), "/"); len(parts) > 1 {
			tenant = parts[1]
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": baseURLOf(r) + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata":                  []map[string]any{{"preferred_network": r.Host, "preferred_cache": r.Host, "aliases": []string{r.Host}}},
	})
}
