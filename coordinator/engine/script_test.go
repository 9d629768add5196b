package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/verdict-tx/verdict/internal/clock"
	"github.com/verdict-tx/verdict/internal/testwait"
	"github.com/verdict-tx/verdict/internal/txid"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// TestScripts runs the scripted engine tests of testdata/scripts, in the
// style of etcd raft's interaction tests: each file is a script of
// commands with the output each must give. The engine runs over a fake
// log, fake participants and a fake clock (fakes_test.go): no network, no
// disk, and no timer fires but when the script ticks the clock.
//
// The engine works on goroutines of its own, so a script names what it
// waits for (await ...) before it prints what follows from it; nothing
// else happens between two commands, since no timer fires on its own.
// Rewrite the expected output with -rewrite.
//
// Commands (participant "a" is at address "a:1"):
//
//	new [stuck-after=D] [max-backoff=D] [retention=D] [timeout=D] [max-addresses=N]
//	begin T [timeout=D]          enlist T A... [yes=(A,B)] commit T [retry] [parts=(A,B)]
//	(enlist ... yes=(A,B): A and B enlist with an early YES vote)
//	begin-local T [term=N] [timeout=D] (the initiator begins T itself, stamped)
//	txid-at T ahead=D (T's id made at the clock's time plus D)
//	abort T                      outcome T [prepared] [parts=A,B]
//	stage T (a participant stages a message under T, with T's stamp)
//	retry T                      forget T A              admin-abort T
//	vote A yes|no|read-only|error (error: Prepare fails)
//	fail A... (decisions fail)   heal A...
//	tick D                       new-leader              begin-stop
//	await ready|done T|decided T|acked T A...|attempts T A N|stuck T|prune|pruned T|tomb-expired T
//	show (calls, log records, events since the last show)
//	table                        timeline T              metrics
func TestScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/scripts", func(t *testing.T, path string) {
		h := &harness{t: t, names: map[string]string{}, aliases: map[string]string{}, stamps: map[string]*verdictv1.TxStamp{}}
		defer h.stop()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			h.t = t
			return h.run(d)
		})
	})
}

// harness is one script's engine and fakes.
type harness struct {
	t       *testing.T
	clock   *clock.Fake
	log     *fakeLog
	parts   *fakeParticipants
	pub     *fakePublisher
	obs     *fakeObserver
	cfg     Config
	e       *Engine
	names   map[string]string // script name → txid
	aliases map[string]string // txid → script name
	// stamps are those of the transactions the script began itself.
	stamps map[string]*verdictv1.TxStamp // by txid
}

func (h *harness) stop() {
	if h.e != nil {
		h.e.Stop()
	}
}

// txid returns the txid the script calls name, making one (at the fake
// clock's time) for a name never begun (a transaction unknown to the
// engine).
func (h *harness) txid(name string) string {
	if id, ok := h.names[name]; ok {
		return id
	}
	id, err := txid.NewAt(h.clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	h.names[name], h.aliases[id] = id, name
	return id
}

// alias replaces every txid in s with its script name.
func (h *harness) alias(s string) string {
	for id, name := range h.aliases {
		s = strings.ReplaceAll(s, id, name)
	}
	return s
}

func ref(name string) *verdictv1.ParticipantRef {
	return &verdictv1.ParticipantRef{Name: name, Address: name + ":1"}
}

func refs(names []string) []*verdictv1.ParticipantRef {
	out := make([]*verdictv1.ParticipantRef, len(names))
	for i, n := range names {
		out[i] = ref(n)
	}
	return out
}

func (h *harness) duration(d *datadriven.TestData, key string, def time.Duration) time.Duration {
	if !d.HasArg(key) {
		return def
	}
	var s string
	d.ScanArgs(h.t, key, &s)
	v, err := time.ParseDuration(s)
	if err != nil {
		h.t.Fatalf("%s: %v", d.Pos, err)
	}
	return v
}

func (h *harness) run(d *datadriven.TestData) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if d.Cmd != "new" && h.e == nil {
		h.t.Fatalf("%s: %s before new", d.Pos, d.Cmd)
	}
	arg := func(i int) string {
		if i >= len(d.CmdArgs) {
			h.t.Fatalf("%s: %s needs %d arguments", d.Pos, d.Cmd, i+1)
		}
		return d.CmdArgs[i].Key
	}
	names := func(from int) []string {
		var out []string
		for _, a := range d.CmdArgs[from:] {
			if len(a.Vals) == 0 {
				out = append(out, a.Key)
			}
		}
		return out
	}
	switch d.Cmd {
	case "new":
		return h.start(d)
	case "begin":
		req := &verdictv1.BeginRequest{TimeoutMs: h.duration(d, "timeout", 0).Milliseconds()}
		resp, err := h.e.Begin(ctx, "script", req)
		if err != nil {
			return errLine(err)
		}
		name := arg(0)
		h.names[name], h.aliases[resp.GetTxid()] = resp.GetTxid(), name
		return fmt.Sprintf("%s: deadline in %v", name, time.UnixMilli(resp.GetDeadlineUnixMs()).Sub(h.clock.Now()).Round(time.Second))
	case "enlist":
		var out []string
		var yes []string
		if d.HasArg("yes") {
			d.ScanArgs(h.t, "yes", &yes)
		}
		plain := names(1)
		for i, p := range append(plain, yes...) {
			id := h.txid(arg(0))
			req := &verdictv1.EnlistRequest{Txids: []string{id}, Participant: ref(p)}
			if st, ok := h.stamps[id]; ok {
				req.Stamps = []*verdictv1.TxStamp{st}
			}
			voted := ""
			if i >= len(plain) {
				req.Votes, voted = []verdictv1.Vote{verdictv1.Vote_VOTE_YES}, " with yes"
			}
			errs, err := h.e.Enlist(ctx, req)
			switch {
			case err != nil:
				out = append(out, p+": "+errLine(err))
			case errs[0] != nil:
				out = append(out, p+": "+errLine(errs[0]))
			default:
				out = append(out, p+": enlisted"+voted)
			}
		}
		return h.alias(strings.Join(out, "\n"))
	case "commit":
		req := &verdictv1.CommitRequest{Txid: h.txid(arg(0)), Retry: d.HasArg("retry"), Stamp: h.stamps[h.txid(arg(0))]}
		if d.HasArg("parts") {
			var ps []string
			d.ScanArgs(h.t, "parts", &ps)
			req.Participants = refs(ps)
		}
		resp, err := h.e.Commit(ctx, "script", req)
		if err != nil {
			return h.alias(errLine(err))
		}
		return h.alias(answer(resp.GetOutcome(), resp.GetReason()))
	case "txid-at":
		// Names a txid made at the clock's time plus ahead (an initiator
		// whose clock is off).
		id, err := txid.NewAt(h.clock.Now().Add(h.duration(d, "ahead", 0)))
		if err != nil {
			h.t.Fatal(err)
		}
		h.names[arg(0)], h.aliases[id] = id, arg(0)
		return ""
	case "stage":
		// A participant's handler stages a message under T, with T's
		// stamp if the script began it itself.
		id := h.txid(arg(0))
		req := &verdictv1.StageMessagesRequest{Txid: id, Stamp: h.stamps[id],
			Messages: []*verdictv1.StagedMessage{{Subject: "orders.placed", Data: []byte("x")}}}
		resp, err := h.e.StageMessages(ctx, req)
		if err != nil {
			return h.alias(errLine(err))
		}
		return fmt.Sprintf("%s: %d staged", arg(0), resp.GetStaged())
	case "begin-local":
		// The initiator begins the transaction itself, stamped with the
		// leader's term (or term=N).
		term, _ := h.e.LeaderTerm()
		if d.HasArg("term") {
			d.ScanArgs(h.t, "term", &term)
		}
		id := h.txid(arg(0))
		deadline := h.clock.Now().Add(h.duration(d, "timeout", 30*time.Second))
		h.stamps[id] = &verdictv1.TxStamp{Term: term, DeadlineUnixMs: deadline.UnixMilli()}
		return fmt.Sprintf("%s: stamped with term %d", arg(0), term)
	case "abort":
		resp, err := h.e.Abort(ctx, &verdictv1.AbortRequest{Txid: h.txid(arg(0))})
		if err != nil {
			return h.alias(errLine(err))
		}
		return h.alias(answer(resp.GetOutcome(), resp.GetReason()))
	case "outcome":
		req := &verdictv1.OutcomeRequest{Txid: h.txid(arg(0)), Prepared: d.HasArg("prepared")}
		if d.HasArg("parts") {
			var ps []string
			d.ScanArgs(h.t, "parts", &ps)
			req.Participants = refs(ps)
		}
		resp, err := h.e.Outcome(ctx, req)
		if err != nil {
			return h.alias(errLine(err))
		}
		return h.alias(answer(resp.GetOutcome(), resp.GetReason()))
	case "retry":
		if _, err := h.e.Retry(ctx, &verdictv1.RetryTransactionRequest{Txid: h.txid(arg(0))}); err != nil {
			return h.alias(errLine(err))
		}
		return "ok"
	case "forget":
		req := &verdictv1.ForgetTransactionRequest{Txid: h.txid(arg(0)), Participant: arg(1), Operator: "alice", Reason: "gone for good"}
		if _, err := h.e.Forget(ctx, req); err != nil {
			return h.alias(errLine(err))
		}
		return "ok"
	case "admin-abort":
		req := &verdictv1.AbortTransactionRequest{Txid: h.txid(arg(0)), Operator: "alice", Reason: "stuck"}
		if _, err := h.e.AbortTransaction(ctx, req); err != nil {
			return h.alias(errLine(err))
		}
		return "ok"
	case "vote":
		v, ok := map[string]verdictv1.Vote{"yes": verdictv1.Vote_VOTE_YES, "no": verdictv1.Vote_VOTE_NO, "read-only": verdictv1.Vote_VOTE_READ_ONLY, "error": verdictv1.Vote_VOTE_UNSPECIFIED}[arg(1)]
		if !ok {
			h.t.Fatalf("%s: vote %q", d.Pos, arg(1))
		}
		h.parts.mu.Lock()
		h.parts.votes[arg(0)] = v
		h.parts.mu.Unlock()
		return ""
	case "fail", "heal":
		h.parts.mu.Lock()
		for _, p := range names(0) {
			h.parts.failing[p] = d.Cmd == "fail"
		}
		h.parts.mu.Unlock()
		return ""
	case "tick":
		// A negative tick steps the clock back, as a wrong system clock
		// corrected does; no timer fires.
		dur, err := time.ParseDuration(arg(0))
		if err != nil {
			h.t.Fatalf("%s: %v", d.Pos, err)
		}
		h.clock.Advance(dur)
		return ""
	case "new-leader":
		return h.newLeader()
	case "begin-stop":
		h.e.BeginStop()
		return ""
	case "await":
		h.await(d, arg)
		return ""
	case "show":
		return h.show()
	case "table":
		return h.table()
	case "timeline":
		tx, err := h.e.Describe(h.txid(arg(0)))
		if err != nil {
			return h.alias(errLine(err))
		}
		// One row per participant ("-": the transaction's own events):
		// the order within a row is the order of events, while events
		// of different participants happen concurrently.
		rows := map[string][]string{}
		for _, e := range tx.GetTimeline() {
			p := cmp.Or(e.GetParticipant(), "-")
			rows[p] = append(rows[p], e.GetKind())
		}
		var out []string
		for p, kinds := range rows {
			out = append(out, p+": "+strings.Join(kinds, " "))
		}
		sort.Strings(out)
		return strings.Join(out, "\n")
	case "metrics":
		return h.metrics()
	}
	h.t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	return ""
}

// start makes the engine, with the script's settings, and waits until it
// leads and its periodic work is timed by the fake clock.
func (h *harness) start(d *datadriven.TestData) string {
	h.clock = clock.NewFake()
	h.log = &fakeLog{}
	h.parts = newFakeParticipants()
	h.pub = &fakePublisher{}
	h.obs = newFakeObserver()
	if d.HasArg("max-addresses") {
		d.ScanArgs(h.t, "max-addresses", &h.parts.maxAddresses)
	}
	h.cfg = Config{
		DefaultTimeout:          h.duration(d, "timeout", 30*time.Second),
		MaxTimeout:              10 * time.Minute,
		MaxParticipants:         16,
		MaxParticipantAddresses: max(h.parts.maxAddresses, 1),
		MaxStagedBytes:          1 << 20,
		MaxOpenPerClient:        100,
		MaxListBytes:            1 << 20,
		Retention:               h.duration(d, "retention", 24*time.Hour),
		MaxRetryBackoff:         h.duration(d, "max-backoff", time.Second),
		StuckAfter:              h.duration(d, "stuck-after", time.Minute),
		IdleTimeout:             time.Hour,
		Clock:                   h.clock,
		Logger:                  testLogger(),
		Knobs:                   &TestingKnobs{Monotonic: h.clock.Now},
	}
	h.e = h.newEngine()
	return ""
}

// newEngine starts an engine over the fake log, as the leader of the
// log's next term, and waits until it is ready.
func (h *harness) newEngine() *Engine {
	e := New(h.cfg, Deps{Participants: h.parts, Publisher: h.pub, Observer: h.obs})
	term := h.log.attach(e.StateMachine())
	e.Start(h.log)
	e.OnLeadership(true, term)
	// Ready, and its sweep, DONE flush and idle release have their
	// tickers (the engine's only ones; a stopped engine's are stopped): a
	// tick from now on reaches them.
	testwait.For(h.t, 10*time.Second, "the engine ready", func() bool {
		_, ready := e.LeaderTerm()
		return ready && h.clock.Tickers() == 3
	})
	return e
}

// newLeader crashes the leader (its memory is lost) and makes a new one
// over the same log in the next term.
func (h *harness) newLeader() string {
	h.e.Stop()
	h.e = h.newEngine()
	return ""
}

func (h *harness) await(d *datadriven.TestData, arg func(int) string) {
	var words []string
	for _, a := range d.CmdArgs {
		words = append(words, a.Key)
	}
	what := strings.Join(words, " ")
	var cond func() bool
	switch arg(0) {
	case "ready":
		cond = func() bool { _, ok := h.e.LeaderTerm(); return ok }
	case "done":
		id := h.txid(arg(1))
		cond = func() bool { tx, ok := h.e.Applied(id); return ok && tx.GetDone() }
	case "decided":
		id := h.txid(arg(1))
		cond = func() bool { _, ok := h.e.Applied(id); return ok }
	case "prune":
		cond = func() bool { return h.log.logged("PRUNE") }
	case "pruned":
		id := h.txid(arg(1))
		cond = func() bool { _, ok := h.e.Applied(id); return !ok && h.e.fsm.expired(id) }
	case "tomb-expired":
		id := h.txid(arg(1))
		cond = func() bool {
			h.e.active.mu.Lock()
			defer h.e.active.mu.Unlock()
			_, ok := h.e.active.tombs[id]
			return !ok
		}
	case "stuck":
		id := h.txid(arg(1))
		cond = func() bool { return slices.Contains(h.e.delivery.stuckIDs(), id) }
	case "acked":
		id := h.txid(arg(1))
		var ps []string
		for _, a := range d.CmdArgs[2:] {
			ps = append(ps, a.Key)
		}
		cond = func() bool {
			for _, p := range ps {
				if !h.acked(id, p) {
					return false
				}
			}
			return true
		}
	case "attempts":
		id, p := h.txid(arg(1)), arg(2)
		var n int
		if _, err := fmt.Sscan(arg(3), &n); err != nil {
			h.t.Fatalf("%s: %v", d.Pos, err)
		}
		cond = func() bool { return h.failedAttempts(id, p) >= n && h.backingOff(p) }
	default:
		h.t.Fatalf("%s: await %q", d.Pos, arg(0))
	}
	if !testwait.Until(10*time.Second, cond) {
		h.t.Fatalf("%s: timed out after 10s waiting for %s; so far:\n%s\ntable:\n%s", d.Pos, what, h.show(), h.table())
	}
}

// acked reports whether participant name has acknowledged phase 2 of id.
func (h *harness) acked(id, name string) bool {
	d := h.e.delivery
	d.mu.Lock()
	p, pending := d.txs[id]
	waiting := pending && p.waiting(name)
	_, finished := d.finished[id]
	d.mu.Unlock()
	if pending {
		return !waiting
	}
	tx, ok := h.e.Applied(id)
	return finished || (ok && tx.GetDone())
}

// failedAttempts is the number of failed deliveries of id to name.
func (h *harness) failedAttempts(id, name string) int {
	return h.parts.count(name, "commit "+id+" (failed)") + h.parts.count(name, "abort "+id+" (failed)")
}

// backingOff reports whether the phase-2 sender of participant name waits
// out a backoff (its timer runs: a tick reaches it).
func (h *harness) backingOff(name string) bool {
	d := h.e.delivery
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.senders[name+":1"]
	return ok && !s.backoffUntil.IsZero()
}

// show prints the calls to participants, the records logged and the events
// published since the last show.
func (h *harness) show() string {
	var out []string
	h.parts.mu.Lock()
	names := make([]string, 0, len(h.parts.calls))
	for n := range h.parts.calls {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, c := range h.parts.calls[n] {
			out = append(out, "→ "+n+": "+c)
		}
	}
	h.parts.calls = map[string][]string{}
	h.parts.mu.Unlock()
	for _, r := range h.log.newRecords(func(id string) string { return id }) {
		out = append(out, "log: "+r)
	}
	h.pub.mu.Lock()
	for _, ev := range h.pub.events {
		line := "event: " + ev.Kind + " " + ev.Txid
		if ev.Reason != "" {
			line += " (" + ev.Reason + ")"
		}
		out = append(out, line)
	}
	h.pub.events = nil
	h.pub.mu.Unlock()
	return h.alias(strings.Join(out, "\n"))
}

// table prints the transactions the leader holds in memory and those of
// its log's table, in the order of their script names.
func (h *harness) table() string {
	var out []string
	for _, tx := range h.e.active.snapshot() {
		out = append(out, h.alias(tx.GetTxid())+" "+stateWord(tx.GetState())+" (memory) ["+partNames(tx.GetParticipants())+"]")
	}
	stuck := h.e.delivery.stuckIDs()
	for _, tx := range h.e.AppliedAll() {
		h.e.delivery.annotate(tx)
		line := h.alias(tx.GetTxid()) + " " + stateWord(tx.GetState()) + " [" + partNames(tx.GetParticipants()) + "]"
		if tx.GetDone() {
			line += " done"
		} else {
			line += " acked [" + strings.Join(tx.GetAcked(), " ") + "]"
		}
		for _, hr := range tx.GetHeuristics() {
			line += " heuristic " + hr.GetParticipant()
		}
		if slices.Contains(stuck, tx.GetTxid()) {
			line += " stuck"
		}
		out = append(out, line)
	}
	sort.Strings(out)
	if len(out) == 0 {
		return "empty"
	}
	return strings.Join(out, "\n")
}

func (h *harness) metrics() string {
	o := h.obs
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for p, n := range o.commits {
		out = append(out, fmt.Sprintf("commits %s: %d", p, n))
	}
	for c, n := range o.aborts {
		out = append(out, fmt.Sprintf("aborts %s: %d", c, n))
	}
	sort.Strings(out)
	return strings.Join(append(out, fmt.Sprintf("phase-2 retries: %d", o.retries)), "\n")
}

func answer(o verdictv1.Outcome, reason string) string {
	s := strings.ToLower(strings.TrimPrefix(o.String(), "OUTCOME_"))
	if reason != "" {
		s += ": " + reason
	}
	return s
}

// errLine names the engine error's kind, then its message.
func errLine(err error) string {
	for _, k := range []struct {
		err  error
		name string
	}{{ErrNotLeader, "not leader"}, {ErrUnavailable, "unavailable"}, {ErrUnknownTx, "unknown"}, {ErrNotActive, "not active"}, {ErrNoNATS, "no nats"}, {ErrLimit, "limit"}, {ErrInvalid, "invalid"}, {ErrInternal, "internal"}} {
		if errors.Is(err, k.err) {
			return "error (" + k.name + "): " + err.Error()
		}
	}
	return "error: " + err.Error()
}
