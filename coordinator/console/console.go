package console

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/verdict-tx/verdict/internal/txid"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Backend is what the console reads: the node's gRPC services, called in
// process, and its metrics.
type Backend struct {
	Coordinator verdictv1.CoordinatorServer
	Admin       verdictv1.AdminServer
	// Sample reads the node's counters now (live.go).
	Sample func() Sample
}

// Console serves the pages. Start its sampling with Run.
type Console struct {
	b        Backend
	auth     Auth
	sessions *sessions
	failed   failures // sign-ins
	flashes  *flashes // what the last action did or why it failed
	counts   countCache
	log      *slog.Logger
	pages    map[string]*template.Template
	live     *ring
	mux      *http.ServeMux
	// now is the clock of the pages (tests fix it).
	now func() time.Time
}

// callTimeout bounds each call a page makes.
const callTimeout = 5 * time.Second

// New returns the console over b, authorising actions by auth.
func New(b Backend, auth Auth, log *slog.Logger) *Console {
	c := &Console{b: b, auth: auth, sessions: newSessions(), flashes: newFlashes(), log: log, pages: map[string]*template.Template{}, live: newRing(liveSamples), mux: http.NewServeMux(), now: time.Now}
	for _, name := range []string{"cluster", "transactions", "transaction", "live", "login"} {
		c.pages[name] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	static, _ := fs.Sub(staticFS, "static")
	c.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	c.mux.HandleFunc("GET /{$}", c.cluster)
	c.mux.HandleFunc("GET /transactions", c.transactions)
	c.mux.HandleFunc("GET /transactions/{txid}", c.transaction)
	c.mux.HandleFunc("GET /live", c.livePage)
	c.mux.HandleFunc("GET /live.json", c.liveJSON)
	c.routeActions()
	return c
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !c.allowedHost(r.Host) {
		http.Error(w, "verdict console: unknown host "+strconv.Quote(r.Host)+": name it with --console-host", http.StatusMisdirectedRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	c.mux.ServeHTTP(w, r)
}

// page is what every page's layout reads.
type page struct {
	Title  string
	Status int    // the HTTP status; 0: 200, or 502 with an Error
	Nav    string // the nav entry to mark current
	Error  string // a failed call, said at the top
	Data   any
	// Set by render: the form token, who may act (recorded in the audit),
	// whether a sign-in could make them, what the last action did or why
	// it failed, and the page's path (to come back to).
	CSRF      string
	Operator  string
	CanAct    bool
	CanSignIn bool
	SignedIn  bool
	Did       string
	Failed    string
	Path      string
}

// render writes the page name, with p.Status, or 502 for a page with an
// Error and no status (the cluster could not be asked).
func (c *Console) render(w http.ResponseWriter, r *http.Request, name string, p page) {
	p.CSRF = c.csrfToken(w, r)
	p.Operator, p.CanAct = c.operator(r)
	p.CanSignIn = c.auth.Token != ""
	if ck, err := r.Cookie(sessionCookie); err == nil && c.sessions.valid(ck.Value, c.now()) {
		p.SignedIn = true
	}
	if r.Method == http.MethodGet {
		p.Did = didText[r.URL.Query().Get("did")]
		p.Failed = c.flashes.take(r.URL.Query().Get("failed"), c.now())
	}
	p.Path = r.URL.Path
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	switch {
	case p.Status != 0:
		w.WriteHeader(p.Status)
	case p.Error != "":
		w.WriteHeader(http.StatusBadGateway)
	}
	if err := c.pages[name].Execute(w, p); err != nil {
		c.log.Warn("console: rendering a page failed", "page", name, "err", err)
	}
}

func (c *Console) callContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), callTimeout)
}

// clusterData is the cluster page's.
type clusterData struct {
	Status  *verdictv1.StatusResponse
	Members []memberRow
}

type memberRow struct {
	ID       uint64
	Address  string
	Role     string
	Match    uint64
	Lag      uint64
	IsLeader bool
	IsSelf   bool
}

func (c *Console) cluster(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := c.callContext(r)
	defer cancel()
	st, err := c.b.Admin.Status(ctx, &verdictv1.StatusRequest{})
	if err != nil {
		c.render(w, r, "cluster", page{Title: "Cluster", Nav: "cluster", Error: describe(err)})
		return
	}
	d := clusterData{Status: st}
	for _, m := range st.GetMembers() {
		row := memberRow{ID: m.GetId(), Address: m.GetAddress(), Role: "voter", Match: m.GetMatchIndex(), IsLeader: m.GetId() == st.GetLeader(), IsSelf: m.GetId() == st.GetId()}
		if m.GetLearner() {
			row.Role = "learner"
		}
		if row.IsLeader {
			row.Role = "leader"
		}
		if ci := st.GetCommitIndex(); m.GetMatchIndex() > 0 && ci > m.GetMatchIndex() {
			row.Lag = ci - m.GetMatchIndex()
		}
		d.Members = append(d.Members, row)
	}
	c.render(w, r, "cluster", page{Title: "Cluster", Nav: "cluster", Data: d})
}

// filter is the transactions page's query: tx list's filters.
type filter struct {
	State       string
	Stuck       bool
	OlderThan   string
	Participant string
	After       string
	Done        bool
	Query       string // a txid searched for
}

func (f filter) request() (*verdictv1.ListTransactionsRequest, error) {
	req := &verdictv1.ListTransactionsRequest{Limit: pageSize, Stuck: f.Stuck, Participant: f.Participant, AfterTxid: f.After, IncludeDone: f.Done}
	st, ok := states[f.State]
	if !ok {
		return nil, fmt.Errorf("state %q: want active, preparing, committed or aborted", f.State)
	}
	req.State = st
	if f.OlderThan != "" {
		d, err := time.ParseDuration(f.OlderThan)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("older than %q: want a duration such as 5m", f.OlderThan)
		}
		req.OlderThanMs = d.Milliseconds()
	}
	if f.After != "" {
		if err := txid.Validate(f.After); err != nil {
			return nil, err
		}
	}
	return req, nil
}

// query is f as a URL query, with after set to next.
func (f filter) query(after string) string {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("state", f.State)
	if f.Stuck {
		v.Set("stuck", "1")
	}
	if f.Done {
		v.Set("done", "1")
	}
	set("older", f.OlderThan)
	set("participant", f.Participant)
	set("after", after)
	return v.Encode()
}

var states = map[string]verdictv1.TxState{
	"":          verdictv1.TxState_TX_STATE_UNSPECIFIED,
	"active":    verdictv1.TxState_TX_STATE_ACTIVE,
	"preparing": verdictv1.TxState_TX_STATE_PREPARING,
	"committed": verdictv1.TxState_TX_STATE_COMMITTED,
	"aborted":   verdictv1.TxState_TX_STATE_ABORTED,
}

// pageSize is how many transactions a page lists.
const pageSize = 50

type transactionsData struct {
	Filter filter
	Rows   []*verdictv1.Transaction
	Next   template.URL // the next page, "" on the last
	Counts []stateCount
	// Counted is how many transactions the counts cover, and More
	// whether there are more than that.
	Counted int
	More    bool
}

type stateCount struct {
	State string
	N     int
}

// countLimit bounds the transactions counted per state.
const countLimit = 10000

func (c *Console) transactions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := filter{State: q.Get("state"), Stuck: q.Get("stuck") != "", OlderThan: q.Get("older"), Participant: strings.TrimSpace(q.Get("participant")), After: q.Get("after"), Done: q.Get("done") != "", Query: strings.TrimSpace(q.Get("q"))}
	if f.Query != "" {
		if err := txid.Validate(f.Query); err != nil {
			c.render(w, r, "transactions", page{Title: "Transactions", Nav: "transactions", Error: "search: " + err.Error(), Data: transactionsData{Filter: f}})
			return
		}
		http.Redirect(w, r, "/transactions/"+f.Query, http.StatusSeeOther)
		return
	}
	req, err := f.request()
	if err != nil {
		c.render(w, r, "transactions", page{Status: http.StatusBadRequest, Title: "Transactions", Nav: "transactions", Error: err.Error(), Data: transactionsData{Filter: f}})
		return
	}
	ctx, cancel := c.callContext(r)
	defer cancel()
	resp, err := c.b.Coordinator.ListTransactions(ctx, req)
	if err != nil {
		c.render(w, r, "transactions", page{Title: "Transactions", Nav: "transactions", Error: describe(err), Data: transactionsData{Filter: f}})
		return
	}
	d := transactionsData{Filter: f, Rows: resp.GetTransactions()}
	if n := resp.GetNextAfterTxid(); n != "" {
		d.Next = template.URL("/transactions?" + f.query(n))
	}
	d.Counts, d.Counted, d.More = c.stateCounts(ctx)
	c.render(w, r, "transactions", page{Title: "Transactions", Nav: "transactions", Data: d})
}

// countCache keeps the counts per state for a few seconds: every view of
// the transactions page would otherwise list thousands at the leader.
type countCache struct {
	mu      sync.Mutex
	at      time.Time
	counts  []stateCount
	counted int
	more    bool
}

// countsFresh is how long counts are reused.
const countsFresh = 5 * time.Second

// stateCounts counts the transactions the leader knows (done ones within
// the retention window included) per state, over at most countLimit (and
// one answer's bytes), at most once per countsFresh.
func (c *Console) stateCounts(ctx context.Context) ([]stateCount, int, bool) {
	cc := &c.counts
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if now := c.now(); now.Sub(cc.at) < countsFresh {
		return cc.counts, cc.counted, cc.more
	}
	resp, err := c.b.Coordinator.ListTransactions(ctx, &verdictv1.ListTransactionsRequest{IncludeDone: true, Limit: countLimit})
	if err != nil {
		return nil, 0, false
	}
	n := map[verdictv1.TxState]int{}
	for _, t := range resp.GetTransactions() {
		n[t.GetState()]++
	}
	var out []stateCount
	for _, s := range []string{"active", "preparing", "committed", "aborted"} {
		out = append(out, stateCount{State: s, N: n[states[s]]})
	}
	cc.at, cc.counts, cc.counted, cc.more = c.now(), out, len(resp.GetTransactions()), resp.GetNextAfterTxid() != ""
	return cc.counts, cc.counted, cc.more
}

type transactionData struct {
	Tx       *verdictv1.Transaction
	Timeline template.HTML // the SVG chart
	Rows     []participantRow
}

type participantRow struct {
	Name, Address string
	Acked         bool
	Heuristic     *verdictv1.HeuristicResolution
	Vote          string
}

func (c *Console) transaction(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("txid")
	if err := txid.Validate(id); err != nil {
		c.render(w, r, "transaction", page{Status: http.StatusBadRequest, Title: "Transaction", Nav: "transactions", Error: err.Error()})
		return
	}
	ctx, cancel := c.callContext(r)
	defer cancel()
	resp, err := c.b.Coordinator.GetTransaction(ctx, &verdictv1.GetTransactionRequest{Txid: id})
	if err != nil {
		if notFound(err) {
			c.render(w, r, "transaction", page{Status: http.StatusNotFound, Title: "Transaction " + id, Nav: "transactions", Error: describe(err) + ": the cluster does not know it, so it is presumed aborted (unless a leader committed it in one phase and lost office before recording it)"})
			return
		}
		c.render(w, r, "transaction", page{Title: "Transaction " + id, Nav: "transactions", Error: describe(err)})
		return
	}
	tx := resp.GetTransaction()
	d := transactionData{Tx: tx, Timeline: timelineSVG(tx, c.now())}
	votes := lastVotes(tx)
	for _, p := range tx.GetParticipants() {
		row := participantRow{Name: p.GetName(), Address: p.GetAddress(), Vote: votes[p.GetName()]}
		for _, a := range tx.GetAcked() {
			row.Acked = row.Acked || a == p.GetName()
		}
		for _, h := range tx.GetHeuristics() {
			if h.GetParticipant() == p.GetName() {
				row.Heuristic = h
			}
		}
		d.Rows = append(d.Rows, row)
	}
	c.render(w, r, "transaction", page{Title: "Transaction " + id, Nav: "transactions", Data: d})
}

// lastVotes are the participants' votes, as the timeline recorded them.
func lastVotes(tx *verdictv1.Transaction) map[string]string {
	out := map[string]string{}
	for _, e := range tx.GetTimeline() {
		if e.GetKind() == "vote" {
			out[e.GetParticipant()] = e.GetDetail()
		}
	}
	return out
}

var funcs = template.FuncMap{
	"state": func(s verdictv1.TxState) string {
		return strings.ToLower(strings.TrimPrefix(s.String(), "TX_STATE_"))
	},
	"ms": func(ms int64) string {
		if ms == 0 {
			return "—"
		}
		return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.000 UTC")
	},
	"ago": func(ms int64) string {
		if ms == 0 {
			return ""
		}
		return time.Since(time.UnixMilli(ms)).Round(time.Second).String() + " ago"
	},
	"began": func(id string) string {
		t, err := txid.Time(id)
		if err != nil {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"itoa":       strconv.Itoa,
	"stateNames": func() []string { return []string{"active", "preparing", "committed", "aborted"} },
}
