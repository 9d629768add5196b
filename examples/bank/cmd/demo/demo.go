package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/examples/bank/account"
	"github.com/verdict-tx/verdict/examples/bank/bankpb"
)

// Bounds of the demo's waits: generous, since the machine may be busy,
// but finite, so that a broken setup ends with a message, not a hang.
const (
	electionLimit = 30 * time.Second
	transferLimit = 15 * time.Second
	settleLimit   = 60 * time.Second
	cleanupLimit  = time.Minute
)

// bank is one account service and its database.
type bank struct {
	name string // the participant's name, bank-a or bank-b
	db   string
	pool *pgxpool.Pool
	addr string
	api  bankpb.AccountsClient
}

// demo is one run: what it started (undone in reverse order at the end)
// and what it learned.
type demo struct {
	opts    options
	out     io.Writer
	logger  *slog.Logger
	admin   *pgxpool.Pool
	cluster *cluster
	banks   [2]*bank
	client  *client.Client
	undo    []func(context.Context) error

	seq                         int              // transfers so far, numbering the output
	expected                    map[string]int64 // balance per "bank/account" that the outcomes imply
	committed, aborted, refused int
	unknown                     int // outcomes nobody could learn: balances unpredictable
	failures                    []string
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

func (d *demo) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	d.failures = append(d.failures, msg)
	d.say("  CHECK FAILED: %s", msg)
}

func (d *demo) onCleanup(f func(context.Context) error) { d.undo = append(d.undo, f) }

// cleanup undoes what setUp did, newest first, with a context of its own:
// the run's may have ended (Ctrl-C), and the databases must still go.
func (d *demo) cleanup() error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupLimit)
	defer cancel()
	var errs []error
	for i := len(d.undo) - 1; i >= 0; i-- {
		errs = append(errs, d.undo[i](ctx))
	}
	return errors.Join(errs...)
}

func (d *demo) setUp(ctx context.Context) error {
	d.say("Verdict bank demo: money moved between two PostgreSQL databases, all or nothing")
	if err := d.connect(ctx); err != nil {
		return err
	}
	if err := d.startCluster(ctx); err != nil {
		return err
	}
	d.say("\nAccount services (each over a database of its own, created for this run):")
	for i, name := range []string{"bank-a", "bank-b"} {
		b, err := d.startBank(ctx, name, uniqueName("verdict_demo_"+name[len(name)-1:]))
		if err != nil {
			return err
		}
		d.banks[i] = b
	}
	cl, err := client.Dial(d.cluster.endpoints())
	if err != nil {
		return fmt.Errorf("dial the coordinator cluster: %w", err)
	}
	d.onCleanup(func(context.Context) error { return cl.Close() })
	d.client = cl
	return nil
}

func (d *demo) connect(ctx context.Context) error {
	admin, maxPrepared, err := connectAdmin(ctx, d.opts.dsn)
	if err != nil {
		return err
	}
	d.onCleanup(func(context.Context) error { admin.Close(); return nil })
	d.admin = admin
	d.say("PostgreSQL: %s (max_prepared_transactions = %d)", serverName(admin), maxPrepared)
	return nil
}

func (d *demo) startCluster(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "verdict-demo-")
	if err != nil {
		return fmt.Errorf("temp dir for the coordinators' data: %w", err)
	}
	d.onCleanup(func(context.Context) error { return os.RemoveAll(dir) })
	c, err := startCluster(d.opts.nodes, dir, d.logger)
	if err != nil {
		return err
	}
	d.onCleanup(func(context.Context) error { c.stopAll(); return nil })
	d.cluster = c
	d.say("\nCoordinator cluster: %d node(s) in this process, data in %s", d.opts.nodes, dir)
	for _, id := range c.ids() {
		d.say("  node %d on %s", id, c.peers[id])
	}
	start := time.Now()
	id, term, err := c.awaitLeader(ctx, electionLimit)
	if err != nil {
		return err
	}
	d.say("  leader: node %d (term %d), elected in %v", id, term, since(start))
	return nil
}

// startBank creates the database db, starts the service name over it and
// seeds its accounts.
func (d *demo) startBank(ctx context.Context, name, db string) (*bank, error) {
	pool, err := createDatabase(ctx, d.admin, db)
	if err != nil {
		return nil, err
	}
	d.onCleanup(func(ctx context.Context) error { return d.dropOrKeep(ctx, db) })
	d.onCleanup(func(context.Context) error { pool.Close(); return nil })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for %s: %w", name, err)
	}
	svc, err := account.Start(ctx, account.Config{
		Name: name, Pool: pool, Listener: l, Coordinators: d.cluster.endpoints(), Logger: d.logger.With("svc", name),
	})
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d.onCleanup(func(context.Context) error { svc.Stop(); return nil })
	b := &bank{name: name, db: db, pool: pool, addr: l.Addr().String()}
	if err := d.seed(ctx, b); err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(b.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(client.UnaryClientInterceptor()))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", name, err)
	}
	d.onCleanup(func(context.Context) error { return conn.Close() })
	b.api = bankpb.NewAccountsClient(conn)
	d.say("  %s on %s, database %s: %d accounts of %d", name, b.addr, db, d.opts.accounts, d.opts.balance)
	return b, nil
}

func (d *demo) seed(ctx context.Context, b *bank) error {
	seed := map[string]int64{}
	for i := range d.opts.accounts {
		acct := fmt.Sprintf("acct-%d", i)
		seed[acct] = d.opts.balance
		d.expected[b.name+"/"+acct] = d.opts.balance
	}
	if err := account.Seed(ctx, b.pool, seed); err != nil {
		return fmt.Errorf("seed %s: %w", b.name, err)
	}
	return nil
}

func (d *demo) dropOrKeep(ctx context.Context, db string) error {
	if d.opts.keep {
		d.say("  kept database %s: psql -h 127.0.0.1 -U postgres -d %s -c 'SELECT * FROM accounts'; drop it with DROP DATABASE %s", db, db, db)
		return nil
	}
	if err := dropDatabase(ctx, d.admin, db); err != nil {
		return err
	}
	d.say("  dropped database %s", db)
	return nil
}

// play runs the transfers: half, the refused one, the leader restart,
// the other half.
func (d *demo) play(ctx context.Context) error {
	half := d.opts.transfers / 2
	if half > 0 {
		d.say("\nTransfers of %d, alternating direction, one after the other:", d.opts.amount)
		if err := d.transfers(ctx, 0, half); err != nil {
			return err
		}
	}
	if err := d.refusal(ctx); err != nil {
		return err
	}
	if err := d.restartLeader(ctx); err != nil {
		return err
	}
	d.say("\nTransfers after the leader restart:")
	return d.transfers(ctx, half, d.opts.transfers)
}

// transfers runs transfers lo..hi-1 of the plan: even ones from bank-a to
// bank-b, odd ones back, over the accounts in turn, so that with the
// default amounts no account runs dry.
func (d *demo) transfers(ctx context.Context, lo, hi int) error {
	for i := lo; i < hi; i++ {
		src, dst := d.banks[i%2], d.banks[1-i%2]
		from := fmt.Sprintf("acct-%d", (i/2)%d.opts.accounts)
		to := fmt.Sprintf("acct-%d", (i/2+1)%d.opts.accounts)
		d.transfer(ctx, src, dst, from, to, d.opts.amount)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// outcome is what became of one transfer, as the demo tells it.
type outcome int

const (
	committed outcome = iota
	aborted
	unknown
)

// transfer runs one transfer with account.Transfer, as cmd/transfer does,
// prints its outcome, and keeps the balances it implies.
func (d *demo) transfer(ctx context.Context, src, dst *bank, from, to string, amount int64) (outcome, string) {
	d.seq++
	rec := &txRecorder{AccountsClient: src.api}
	tctx, cancel := context.WithTimeout(ctx, transferLimit)
	defer cancel()
	start := time.Now()
	err := account.Transfer(tctx, d.client, rec, dst.api, from, to, amount)
	took := since(start)
	o, why := d.outcomeOf(ctx, err)
	what := fmt.Sprintf("  #%-3d tx %s  %s/%s -> %s/%s  %d", d.seq, txid(rec.txid, err), src.name, from, dst.name, to, amount)
	switch o {
	case committed:
		d.committed++
		d.expected[src.name+"/"+from] -= amount
		d.expected[dst.name+"/"+to] += amount
		d.say("%s  committed%s (%v)", what, why, took)
	case aborted:
		d.aborted++
		d.say("%s  aborted, nothing moved: %s (%v)", what, why, took)
	default:
		d.unknown++
		d.say("%s  OUTCOME UNKNOWN: %s (%v)", what, why, took)
	}
	return o, why
}

// outcomeOf reads Transfer's error. An ambiguous outcome (the commit's
// answer was lost, say to the leader stopping) is asked again of the
// cluster, bounded, since only then can the demo predict the balances.
func (d *demo) outcomeOf(ctx context.Context, err error) (outcome, string) {
	var amb *client.AmbiguousError
	switch {
	case err == nil:
		return committed, ""
	case errors.Is(err, client.ErrAborted):
		return aborted, reason(err)
	case !errors.As(err, &amb):
		return unknown, err.Error()
	}
	octx, cancel := context.WithTimeout(ctx, transferLimit)
	defer cancel()
	o, oerr := d.client.Outcome(octx, amb.TxID, amb.Participants...)
	switch {
	case oerr != nil:
		return unknown, fmt.Sprintf("%v; asking the cluster again: %v", err, oerr)
	case o == client.OutcomeCommitted:
		return committed, " (its answer was lost; the cluster, asked again, says committed)"
	case o == client.OutcomeAborted:
		return aborted, "its answer was lost; the cluster, asked again, says aborted"
	}
	return unknown, fmt.Sprintf("%v; asking the cluster again: %v", err, o)
}

// txid is the transfer's transaction: the one its first Add saw, or, when
// it failed before any Add (at Begin), the one its error names, if any.
func txid(seen string, err error) string {
	var ab *client.AbortedError
	var amb *client.AmbiguousError
	switch {
	case seen != "":
		return seen
	case errors.As(err, &ab) && ab.TxID != "":
		return ab.TxID
	case errors.As(err, &amb) && amb.TxID != "":
		return amb.TxID
	}
	return "(none begun)"
}

// reason is why a transfer aborted: the refusing service's own words when
// a service refused, rather than the layers of wrapping around them.
func reason(err error) string {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus().Message()
	}
	return err.Error()
}

// txRecorder notes the transaction of each Add it forwards: account.Transfer
// runs the transaction inside client.Run, and the demo prints its id, the
// one pg_prepared_xacts and verdictctl would show, whatever the outcome.
type txRecorder struct {
	bankpb.AccountsClient
	txid string
}

func (r *txRecorder) Add(ctx context.Context, req *bankpb.AddRequest, opts ...grpc.CallOption) (*bankpb.AddResponse, error) {
	if tx, ok := client.FromContext(ctx); ok {
		r.txid = tx.ID()
	}
	return r.AccountsClient.Add(ctx, req, opts...)
}

// refusal moves more than bank-a/acct-0 holds: the withdrawal is refused
// (the CHECK constraint), the transaction aborts, and the deposit at
// bank-b, never made, cannot happen either.
func (d *demo) refusal(ctx context.Context) error {
	src, dst, from, to := d.banks[0], d.banks[1], "acct-0", "acct-0"
	// Committed transfers finish in phase 2 after Commit returns: wait
	// for it, so that the balances read now are final.
	if err := d.settle(ctx); err != nil {
		return err
	}
	fromBefore, toBefore, err := d.pair(ctx, src, from, dst, to)
	if err != nil {
		return err
	}
	amount := fromBefore + d.opts.amount
	d.say("\nA transfer beyond the balance: %s/%s holds %d, move %d from it to %s/%s", src.name, from, fromBefore, amount, dst.name, to)
	o, why := d.transfer(ctx, src, dst, from, to, amount)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	d.checkRefused(o, why)
	if err := d.settle(ctx); err != nil {
		return err
	}
	fromAfter, toAfter, err := d.pair(ctx, src, from, dst, to)
	if err != nil {
		return err
	}
	if fromAfter != fromBefore || toAfter != toBefore {
		d.fail("the refused transfer moved money: %s/%s %d -> %d, %s/%s %d -> %d", src.name, from, fromBefore, fromAfter, dst.name, to, toBefore, toAfter)
		return nil
	}
	d.say("  nothing moved at either side: %s/%s still %d, %s/%s still %d", src.name, from, fromAfter, dst.name, to, toAfter)
	return nil
}

func (d *demo) checkRefused(o outcome, why string) {
	switch {
	case o != aborted:
		d.fail("a transfer of more than the balance was not refused")
	case !strings.Contains(why, "insufficient funds"):
		d.fail("the transfer beyond the balance aborted, but not for insufficient funds: %s", why)
	default:
		// Counted as a refusal, not among the transfers that failed.
		d.aborted--
		d.refused++
	}
}

// pair reads the balances of two accounts at two services.
func (d *demo) pair(ctx context.Context, a *bank, acctA string, b *bank, acctB string) (int64, int64, error) {
	x, err := balanceOf(ctx, a.pool, acctA)
	if err != nil {
		return 0, 0, err
	}
	y, err := balanceOf(ctx, b.pool, acctB)
	return x, y, err
}

// settle waits until nothing is prepared in the demo's databases: every
// decided transfer has been applied (or rolled back) at both services.
func (d *demo) settle(ctx context.Context) error {
	return poll(ctx, settleLimit, "phase 2 to finish in both databases", func() (bool, error) {
		n, err := d.prepared(ctx)
		return len(n) == 0, err
	})
}

// prepared lists the transactions left prepared in the demo's databases.
func (d *demo) prepared(ctx context.Context) ([]string, error) {
	var all []string
	for _, b := range d.banks {
		gids, err := preparedGIDs(ctx, d.admin, b.db)
		if err != nil {
			return nil, err
		}
		all = append(all, gids...)
	}
	return all, nil
}

// restartLeader stops the leader node, waits for the others to elect a
// new one, and starts the stopped node again (it rejoins as a follower).
// A lone node has no one to take over: it leads again once restarted.
func (d *demo) restartLeader(ctx context.Context) error {
	old, term, err := d.cluster.awaitLeader(ctx, electionLimit)
	if err != nil {
		return err
	}
	d.say("\nLeader restart: stopping node %d, the leader (term %d)", old, term)
	start := time.Now()
	d.cluster.stop(old)
	if d.opts.nodes == 1 {
		d.say("  node %d was the only node: no leader until it is back; restarting it", old)
		if err := d.cluster.start(old, nil); err != nil {
			return err
		}
	}
	id, term, err := d.cluster.awaitLeader(ctx, electionLimit)
	if err != nil {
		return err
	}
	d.say("  new leader: node %d (term %d), %v after the stop", id, term, since(start))
	if d.opts.nodes == 1 {
		return nil
	}
	if err := d.cluster.start(old, nil); err != nil {
		return err
	}
	d.say("  node %d restarted on %s; it rejoins as a follower", old, d.cluster.peers[old])
	return nil
}

// verify waits for phase 2 to finish, prints the balances, and checks them:
// as the outcomes imply, the total unchanged, nothing left prepared.
func (d *demo) verify(ctx context.Context) error {
	d.say("\nResult:")
	if err := d.settle(ctx); err != nil && !errors.Is(err, errTimeout) {
		return err
	}
	total, err := d.printBalances(ctx)
	if err != nil {
		return err
	}
	if want := 2 * int64(d.opts.accounts) * d.opts.balance; total != want {
		d.fail("total %d across both banks, %d at the start: money was made or lost", total, want)
	} else {
		d.say("  total across both banks: %d, as at the start: unchanged", total)
	}
	if d.unknown == 0 && len(d.failures) == 0 {
		d.say("  every account holds what the committed transfers imply")
	}
	if err := d.checkPrepared(ctx); err != nil {
		return err
	}
	d.say("  transfers: %d committed, %d aborted, %d refused (insufficient funds), %d unknown", d.committed, d.aborted, d.refused, d.unknown)
	if d.committed == 0 {
		d.fail("no transfer committed")
	}
	if len(d.failures) > 0 {
		return fmt.Errorf("%d check(s) failed: %s", len(d.failures), strings.Join(d.failures, "; "))
	}
	return nil
}

// printBalances prints each bank's accounts, checks each against the
// balance the outcomes imply, and returns the total of both banks.
func (d *demo) printBalances(ctx context.Context) (int64, error) {
	var total int64
	for _, b := range d.banks {
		bs, err := balances(ctx, b.pool)
		if err != nil {
			return 0, err
		}
		var sum int64
		var parts []string
		for _, r := range bs {
			sum += r.Balance
			parts = append(parts, fmt.Sprintf("%s %d", r.ID, r.Balance))
			d.checkBalance(b.name+"/"+r.ID, r.Balance)
		}
		d.say("  %s (%s): %s; total %d", b.name, b.db, strings.Join(parts, ", "), sum)
		total += sum
	}
	return total, nil
}

func (d *demo) checkBalance(key string, got int64) {
	// An unknown outcome may have moved money or not: the total is still
	// checked, the accounts cannot be.
	if want := d.expected[key]; d.unknown == 0 && got != want {
		d.fail("%s holds %d, the committed transfers imply %d", key, got, want)
	}
}

func (d *demo) checkPrepared(ctx context.Context) error {
	gids, err := d.prepared(ctx)
	if err != nil {
		return err
	}
	if len(gids) > 0 {
		d.fail("%d transaction(s) still prepared after %v: %s", len(gids), settleLimit, strings.Join(gids, ", "))
		return nil
	}
	d.say("  prepared transactions left (pg_prepared_xacts in %s, %s): none", d.banks[0].db, d.banks[1].db)
	return nil
}

// since is the time since start, rounded for reading.
func since(start time.Time) time.Duration {
	return time.Since(start).Round(time.Millisecond)
}
