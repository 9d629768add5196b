package console

import (
	"context"
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/verdict-tx/verdict/internal/txid"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// The operators' actions, each a POST from the console's own pages
// (checkPost) by an authorised operator (operator). Each calls the Admin
// service in process, as the browser's address (and certificate), so that
// the node records who did it; a follower's Admin service forwards it to
// the leader, carrying the admin token when the node has one.

func (c *Console) routeActions() {
	c.mux.HandleFunc("GET /login", c.loginPage)
	c.mux.HandleFunc("POST /login", c.login)
	c.mux.HandleFunc("POST /logout", c.logout)
	c.mux.HandleFunc("POST /transactions/{txid}/retry", c.act("retry", func(ctx context.Context, r *http.Request, id, who string) error {
		_, err := c.b.Admin.RetryTransaction(ctx, &verdictv1.RetryTransactionRequest{Txid: id})
		return err
	}))
	c.mux.HandleFunc("POST /transactions/{txid}/abort", c.act("abort", func(ctx context.Context, r *http.Request, id, who string) error {
		_, err := c.b.Admin.AbortTransaction(ctx, &verdictv1.AbortTransactionRequest{Txid: id, Reason: strings.TrimSpace(r.PostFormValue("reason")), Operator: who})
		return err
	}))
	c.mux.HandleFunc("POST /transactions/{txid}/forget", c.act("forget", func(ctx context.Context, r *http.Request, id, who string) error {
		if r.PostFormValue("confirm") != "yes" {
			return errNotConfirmed
		}
		_, err := c.b.Admin.ForgetTransaction(ctx, &verdictv1.ForgetTransactionRequest{Txid: id, Participant: r.PostFormValue("participant"), Reason: strings.TrimSpace(r.PostFormValue("reason")), Operator: who})
		return err
	}))
	c.mux.HandleFunc("POST /cluster/transfer", c.transfer)
}

// needAdmin refuses an action to someone without the admin role.
const needAdmin = "this action needs the admin role: sign in with the admin token, or use a client certificate with OU verdict-admin"

// actionError is a refusal the console says itself.
type actionError string

func (e actionError) Error() string { return string(e) }

const errNotConfirmed = actionError("confirm that you understand what a heuristic resolution means: tick the box")

// act wraps an action on one transaction: the checks, the call, and the
// way back to the transaction's page saying what was done or why not.
func (c *Console) act(name string, do func(ctx context.Context, r *http.Request, id, who string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("txid")
		back := "/transactions/" + url.PathEscape(id)
		who, ok := c.operator(r)
		if !ok {
			c.refuse(w, r, http.StatusUnauthorized, needAdmin)
			return
		}
		if status, why := c.checkPost(r); status != 0 {
			c.refuse(w, r, status, why)
			return
		}
		if err := txid.Validate(id); err != nil {
			c.refuse(w, r, http.StatusBadRequest, err.Error())
			return
		}
		ctx, cancel := c.actionContext(r)
		defer cancel()
		if err := do(ctx, r, id, who); err != nil {
			msg := err.Error()
			if _, own := err.(actionError); !own {
				msg = describe(err)
			}
			http.Redirect(w, r, back+"?failed="+c.flashes.put(name+": "+msg, c.now()), http.StatusSeeOther)
			return
		}
		c.log.Info("console: operator action", "action", name, "txid", id, "operator", who, "from", r.RemoteAddr)
		http.Redirect(w, r, back+"?did="+name, http.StatusSeeOther)
	}
}

func (c *Console) transfer(w http.ResponseWriter, r *http.Request) {
	who, ok := c.operator(r)
	if !ok {
		c.refuse(w, r, http.StatusUnauthorized, needAdmin)
		return
	}
	if status, why := c.checkPost(r); status != 0 {
		c.refuse(w, r, status, why)
		return
	}
	id, err := strconv.ParseUint(r.PostFormValue("id"), 10, 64)
	if err != nil || id == 0 {
		c.refuse(w, r, http.StatusBadRequest, "transfer leadership: name a voter's id")
		return
	}
	ctx, cancel := c.actionContext(r)
	defer cancel()
	if _, err := c.b.Admin.TransferLeadership(ctx, &verdictv1.TransferLeadershipRequest{Id: id}); err != nil {
		http.Redirect(w, r, "/?failed="+c.flashes.put("transfer leadership: "+describe(err), c.now()), http.StatusSeeOther)
		return
	}
	c.log.Info("console: operator action", "action", "transfer leadership", "to", id, "operator", who, "from", r.RemoteAddr)
	http.Redirect(w, r, "/?did=transfer", http.StatusSeeOther)
}

// actionContext is the context of an action's call to the Admin service:
// the browser as the caller (its address, and its certificate over TLS),
// with the admin token for a follower to forward, when the node has one.
func (c *Console) actionContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	p := &peer.Peer{Addr: remoteAddr(r)}
	if r.TLS != nil {
		p.AuthInfo = credentials.TLSInfo{State: *r.TLS}
	}
	ctx = peer.NewContext(ctx, p)
	if c.auth.Token != "" {
		ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("authorization", "Bearer "+c.auth.Token))
	}
	return ctx, cancel
}

// actionTimeout bounds an action: transferring leadership waits for the
// new leader.
const actionTimeout = 30 * time.Second

func remoteAddr(r *http.Request) net.Addr {
	addr, err := net.ResolveTCPAddr("tcp", r.RemoteAddr)
	if err != nil {
		return &net.TCPAddr{}
	}
	return addr
}

// refuse answers a refused action with a page that says why.
func (c *Console) refuse(w http.ResponseWriter, r *http.Request, status int, why string) {
	c.render(w, r, "login", page{Status: status, Title: "Not done", Error: why})
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, "login", page{Title: "Sign in", Data: r.URL.Query().Get("next")})
}

// login takes the admin token once and keeps a session for it.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if status, why := c.checkPost(r); status != 0 {
		c.refuse(w, r, status, why)
		return
	}
	client := remoteHost(r)
	if !c.failed.allow(client, c.now(), false) {
		c.render(w, r, "login", page{Status: http.StatusTooManyRequests, Title: "Sign in", Error: "too many wrong tokens from your address: wait a minute"})
		return
	}
	tok := r.PostFormValue("token")
	if c.auth.Token == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(c.auth.Token)) != 1 {
		c.failed.allow(client, c.now(), true)
		c.log.Warn("console: sign-in with a wrong admin token", "from", r.RemoteAddr)
		c.render(w, r, "login", page{Status: http.StatusUnauthorized, Title: "Sign in", Error: "that is not the admin token", Data: r.PostFormValue("next")})
		return
	}
	http.SetCookie(w, c.cookie(sessionCookie, c.sessions.add(c.now()), sessionLife))
	http.SetCookie(w, c.cookie(csrfCookie, randomToken(), 0)) // a new form token for the session
	http.Redirect(w, r, localPath(r.PostFormValue("next")), http.StatusSeeOther)
}

// localPath is next if it is a path of this console, else "/": a sign-in
// never sends the browser to another site (no scheme, no host, no "//",
// no backslash or control character, encoded or not).
func localPath(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(next, "/") {
		return "/"
	}
	bad := func(s string) bool {
		return strings.HasPrefix(s, "//") || strings.Contains(s, `\`) || strings.ContainsFunc(s, unicode.IsControl)
	}
	if bad(next) || bad(u.Path) {
		return "/"
	}
	return (&url.URL{Path: path.Clean(u.Path), RawQuery: u.RawQuery}).String()
}

// remoteHost is the IP address of the request's client.
func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// didText says what an action did (the page's "did" parameter names it,
// so that no link can make the console say anything else).
var didText = map[string]string{
	"retry":    "phase 2 retried",
	"abort":    "aborted",
	"forget":   "participant forgotten (heuristic)",
	"transfer": "leadership transfer asked",
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if status, why := c.checkPost(r); status != 0 {
		c.refuse(w, r, status, why)
		return
	}
	if ck, err := r.Cookie(sessionCookie); err == nil {
		c.sessions.remove(ck.Value)
	}
	http.SetCookie(w, c.cookie(sessionCookie, "", -1))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
