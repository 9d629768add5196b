package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/verdict-tx/verdict/internal/tlsconf"
)

// Auth is how the console authorises actions, the Admin service's way:
// with neither a token nor TLS, actions are open; otherwise they need a
// client certificate with the admin role (tlsconf.AdminOU) or the admin
// token, entered once and kept as a session in an HttpOnly cookie.
type Auth struct {
	// Token is the admin token ("" for none).
	Token string
	// TLS: the console serves HTTPS with the node's certificates (its
	// listener verified the client's certificate).
	TLS bool
	// Hosts are the host names (besides IP addresses and localhost) the
	// console answers to, as browsers name it in the Host header.
	Hosts []string
}

func (a Auth) open() bool { return a.Token == "" && !a.TLS }

// Cookies and their lifetimes.
const (
	sessionCookie = "verdict_session"
	csrfCookie    = "verdict_csrf"
	sessionLife   = 12 * time.Hour
	maxSessions   = 1000
)

// sessions are the admin-token logins, by a random id.
type sessions struct {
	mu sync.Mutex
	m  map[string]time.Time // id → expiry
}

func newSessions() *sessions { return &sessions{m: map[string]time.Time{}} }

// add starts a session, dropping expired ones, and the oldest at the cap.
func (s *sessions) add(now time.Time) string {
	id := randomToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	var oldest string
	for k, exp := range s.m {
		if now.After(exp) {
			delete(s.m, k)
		} else if oldest == "" || exp.Before(s.m[oldest]) {
			oldest = k
		}
	}
	if len(s.m) >= maxSessions {
		delete(s.m, oldest)
	}
	s.m[id] = now.Add(sessionLife)
	return id
}

func (s *sessions) valid(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.m[id]
	return ok && now.Before(exp)
}

func (s *sessions) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// operator is who may act through r, as the audit will record it (the
// node adds the address), and whether they may: "" and false for no one.
func (c *Console) operator(r *http.Request) (string, bool) {
	if c.auth.open() {
		return "console (open: no admin token or TLS)", true
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 && tlsconf.HasRole(r.TLS.PeerCertificates[0], tlsconf.AdminOU) {
		return "console", true
	}
	if ck, err := r.Cookie(sessionCookie); err == nil && c.sessions.valid(ck.Value, c.now()) {
		return "console (admin token)", true
	}
	return "", false
}

// csrfToken returns the request's CSRF token, setting the cookie that
// holds it if it has none: forms carry it back (double submit).
func (c *Console) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(csrfCookie); err == nil && len(ck.Value) >= 32 {
		return ck.Value
	}
	tok := randomToken()
	http.SetCookie(w, c.cookie(csrfCookie, tok, 0))
	return tok
}

func (c *Console) cookie(name, value string, maxAge time.Duration) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: c.auth.TLS, SameSite: http.SameSiteStrictMode, MaxAge: int(maxAge.Seconds())}
}

// checkPost refuses a POST that is not from this console's own pages: its
// form must carry the CSRF cookie's token, and its Origin (or Referer),
// when the browser sends one, must be this host.
func (c *Console) checkPost(r *http.Request) (status int, why string) {
	ck, err := r.Cookie(csrfCookie)
	form := r.PostFormValue("csrf")
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(form)) != 1 {
		return http.StatusForbidden, "the form's security token is missing or stale: reload the page and try again"
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		origin = r.Header.Get("Referer")
	}
	if origin == "" {
		return http.StatusForbidden, "the request names no origin: send it from the console's own pages"
	}
	if u, err := url.Parse(origin); err != nil || u.Host != r.Host {
		return http.StatusForbidden, "the request came from another site"
	}
	return 0, ""
}

// allowedHost reports whether a request's Host may be served: an IP
// address (a DNS rebinding attack needs a name), localhost, or one of
// Auth.Hosts. A page of another site whose name was rebound to the
// console's address would otherwise count as the console's own origin.
func (c *Console) allowedHost(host string) bool {
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.ToLower(strings.Trim(name, "[]"))
	if net.ParseIP(name) != nil || name == "localhost" {
		return true
	}
	for _, h := range c.auth.Hosts {
		if strings.EqualFold(h, name) || strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// loginLimit bounds the failed sign-ins per client address per minute.
const loginLimit = 5

// failures counts failed sign-ins per client address, for a minute.
type failures struct {
	mu    sync.Mutex
	since time.Time
	n     map[string]int
}

// allow reports whether addr may try again, counting a failure if failed.
func (f *failures) allow(addr string, now time.Time, failed bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == nil || now.Sub(f.since) > time.Minute {
		f.n, f.since = map[string]int{}, now
	}
	if failed {
		f.n[addr]++
	}
	return f.n[addr] < loginLimit
}
