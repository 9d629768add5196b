package coordinator

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/testpki"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/participant"
	"github.com/verdict-tx/verdict/verdicttest/worksvc"
)

// browser is an HTTP client with cookies, as a browser on the console.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, base string, tlsc *tls.Config) *browser {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{TLSClientConfig: tlsc}
	t.Cleanup(tr.CloseIdleConnections)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, Transport: tr, Timeout: 40 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post submits form to path as the page at from would: with the CSRF
// token of that page (unless form sets csrf) and its Origin.
func (b *browser) post(from, path string, form url.Values) (int, string, string) {
	b.t.Helper()
	if form.Get("csrf") == "" {
		_, page := b.get(from)
		if m := csrfRE.FindStringSubmatch(page); m != nil {
			form.Set("csrf", m[1])
		}
	}
	req, err := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

// Actions need the admin role: with a token, no credential and a wrong
// token are refused, a forged form (no or another token, another origin)
// too; signed in, an operator retries, forgets a participant (the audit
// shows who) and aborts an undecided transaction, from a follower's
// console, which forwards to the leader.
func TestConsoleActionsWithToken(t *testing.T) {
	const token = "console-test-token"
	c := newTunedCluster(t, 3, func(cfg *Config) {
		cfg.ConsoleAddr = "127.0.0.1:0"
		cfg.AdminToken = token
		cfg.StuckAfter = 200 * time.Millisecond
		cfg.MaxRetryBackoff = time.Hour
		cfg.knobs = &engine.TestingKnobs{FirstRetry: time.Hour}
	})
	c.leader()
	p1, p2, flaky, cl := c.withFailingP2()
	ctx := context.Background()
	stuck, err := runTx(ctx, cl, p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, stuck, participant.TxCommitted, p1)
	b := newBrowser(t, "http://"+c.follower().ConsoleAddr(), nil)
	txPage := "/transactions/" + stuck

	// Not signed in.
	if _, body := b.get(txPage); !strings.Contains(body, "sign in with the admin token") {
		t.Error("the transaction page offers no sign-in to act")
	}
	if code, _, _ := b.post(txPage, txPage+"/retry", url.Values{}); code != http.StatusUnauthorized {
		t.Errorf("retry without a credential: %d, want 401", code)
	}
	if code, _, body := b.post("/login", "/login", url.Values{"token": {"wrong"}}); code != http.StatusUnauthorized || !strings.Contains(body, "not the admin token") {
		t.Errorf("a wrong token: %d", code)
	}
	if code, loc, _ := b.post("/login", "/login", url.Values{"token": {token}, "next": {txPage}}); code != http.StatusSeeOther || loc != txPage {
		t.Fatalf("sign-in: %d to %q", code, loc)
	}

	// Forged forms are refused even when signed in.
	if code, _, _ := b.post(txPage, txPage+"/retry", url.Values{"csrf": {"forged-forged-forged-forged-forged-forged"}}); code != http.StatusForbidden {
		t.Errorf("retry with a forged CSRF token: %d, want 403", code)
	}
	_, page := b.get(txPage)
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token in the page")
	}
	req, _ := http.NewRequest(http.MethodPost, b.base+txPage+"/retry", strings.NewReader(url.Values{"csrf": {m[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("retry from another origin: %d, want 403", resp.StatusCode)
	}

	// Retry: the participant is back, and the retry delivers at once
	// (the backoff is an hour).
	flaky.fail.Store(false)
	if code, loc, _ := b.post(txPage, txPage+"/retry", url.Values{}); code != http.StatusSeeOther || !strings.Contains(loc, "did=retry") {
		t.Fatalf("retry: %d to %q", code, loc)
	}
	waitState(t, stuck, participant.TxCommitted, p2)
	testwait.For(t, 10*time.Second, "phase 2 done", func() bool {
		_, body := b.get(txPage)
		return strings.Contains(body, "phase 2 complete")
	})

	// Forget: a new stuck transaction, whose p2 is gone for good.
	flaky.fail.Store(true)
	gone, err := runTx(ctx, cl, p1, p2)
	if err != nil {
		t.Fatal(err)
	}
	gonePage := "/transactions/" + gone
	testwait.For(t, 10*time.Second, "the second transaction's failed delivery", func() bool {
		_, body := b.get(gonePage)
		return strings.Contains(body, "database unavailable")
	})
	if code, loc, _ := b.post(gonePage, gonePage+"/forget", url.Values{"participant": {"p2"}, "reason": {"host lost"}}); code != http.StatusSeeOther || !strings.Contains(loc, "failed=") {
		t.Errorf("forget without the confirmation: %d to %q, want refused", code, loc)
	}
	if code, loc, _ := b.post(gonePage, gonePage+"/forget", url.Values{"participant": {"p2"}, "reason": {"host lost"}, "confirm": {"yes"}}); code != http.StatusSeeOther || !strings.Contains(loc, "did=forget") {
		t.Fatalf("forget: %d to %q", code, loc)
	}
	_, body := b.get(gonePage)
	mustContain(t, "the audited heuristic", body, "resolved by hand (heuristic)", "console (admin token)", "127.0.0.1", "host lost")

	// Abort an undecided transaction.
	tx, err := cl.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := worksvc.Stage(tx.Context(ctx), p1.conn, "k"); err != nil {
		t.Fatal(err)
	}
	openPage := "/transactions/" + tx.ID()
	if _, body := b.get(openPage); !strings.Contains(body, "Abort") {
		t.Fatal("an undecided transaction's page offers no abort")
	}
	if code, loc, _ := b.post(openPage, openPage+"/abort", url.Values{"reason": {"customer cancelled"}}); code != http.StatusSeeOther || !strings.Contains(loc, "did=abort") {
		t.Fatalf("abort: %d to %q", code, loc)
	}
	waitState(t, tx.ID(), participant.TxAborted, p1)
	if _, body := b.get(openPage); !strings.Contains(body, "aborted") || !strings.Contains(body, "customer cancelled") {
		t.Error("the aborted transaction's page lacks its state or reason")
	}

	// A request without an Origin or Referer is refused; so is another
	// host's name (DNS rebinding), and a sign-in's next that leaves the
	// console.
	_, page = b.get(txPage)
	m = csrfRE.FindStringSubmatch(page)
	req, _ = http.NewRequest(http.MethodPost, b.base+txPage+"/retry", strings.NewReader(url.Values{"csrf": {m[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err = b.c.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a POST naming no origin: %d, want 403", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodGet, b.base+"/", nil)
	req.Host = "rebind.evil:7480"
	if resp, err = b.c.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("a page asked by another host's name: %d, want 421", resp.StatusCode)
	}
	if code, loc, _ := b.post("/login", "/login", url.Values{"token": {token}, "next": {`/\evil.example`}}); code != http.StatusSeeOther || loc != "/" {
		t.Errorf("sign-in with an outside next: %d to %q, want /", code, loc)
	}
	// A link cannot make the console say something.
	if _, body := b.get(txPage + "?did=Re-enter+your+token+at+evil.example&failed=made-up"); strings.Contains(body, "evil.example") || strings.Contains(body, "Not done") {
		t.Error("the page shows text a link chose")
	}

	// Sign out: actions are refused again.
	if code, _, _ := b.post("/", "/logout", url.Values{}); code != http.StatusSeeOther {
		t.Errorf("sign out: %d", code)
	}
	if code, _, _ := b.post(txPage, txPage+"/retry", url.Values{}); code != http.StatusUnauthorized {
		t.Errorf("retry after signing out: %d, want 401", code)
	}
}

// Wrong tokens are limited per address: the sixth in a minute is refused
// before it is checked.
func TestConsoleSignInLimit(t *testing.T) {
	c := newTunedCluster(t, 1, func(cfg *Config) {
		cfg.ConsoleAddr = "127.0.0.1:0"
		cfg.AdminToken = "the-token"
	})
	b := newBrowser(t, "http://"+c.leader().ConsoleAddr(), nil)
	for i := range loginAttempts {
		code, _, _ := b.post("/login", "/login", url.Values{"token": {"guess"}})
		if want := http.StatusUnauthorized; i == loginAttempts-1 {
			if code != http.StatusTooManyRequests {
				t.Errorf("attempt %d: %d, want 429", i+1, code)
			}
		} else if code != want {
			t.Errorf("attempt %d: %d, want %d", i+1, code, want)
		}
	}
	if code, _, _ := b.post("/login", "/login", url.Values{"token": {"the-token"}}); code != http.StatusTooManyRequests {
		t.Errorf("the right token after too many wrong ones: %d, want 429 until the minute has passed", code)
	}
}

// loginAttempts is one more than the wrong tokens allowed a minute.
const loginAttempts = 6

// Over TLS the console serves HTTPS and asks the node's client
// certificate: a certificate without the admin role may read, not act; an
// admin certificate may act with no sign-in.
func TestConsoleActionsWithCertificates(t *testing.T) {
	ca := testpki.NewCA(t, "verdict test CA")
	c := tlsCluster(t, 1, ca, func(cfg *Config) { cfg.ConsoleAddr = "127.0.0.1:0" })
	leader := c.leader()
	base := "https://" + leader.ConsoleAddr()

	reader := newBrowser(t, base, ca.Client(t, "viewer"))
	if code, body := reader.get("/"); code != http.StatusOK || !strings.Contains(body, "Members") {
		t.Fatalf("a certificate without the admin role reads: %d", code)
	}
	if code, _, _ := reader.post("/", "/cluster/transfer", url.Values{"id": {"1"}}); code != http.StatusUnauthorized {
		t.Errorf("transfer with a non-admin certificate: %d, want 401", code)
	}
	admin := newBrowser(t, base, ca.Client(t, "alice", AdminOU))
	if _, body := admin.get("/"); !strings.Contains(body, "Transfer leadership") || !strings.Contains(body, "You act as") {
		t.Error("an admin certificate is not offered the leadership action")
	}
	// Transferring to the only voter, itself, is refused by the node:
	// the console says why.
	code, loc, _ := admin.post("/", "/cluster/transfer", url.Values{"id": {"1"}})
	if code != http.StatusSeeOther || !strings.Contains(loc, "/?") {
		t.Fatalf("transfer as admin: %d to %q", code, loc)
	}
	none := newBrowser(t, base, ca.Client(t, ""))
	if _, err := none.c.Get(base + "/"); err == nil {
		t.Error("the console served a client without a certificate")
	}
}
