package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/internal/coordconn"
	"github.com/verdict-tx/verdict/internal/txid"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// maxListLimit is the largest --limit the coordinator accepts.
const maxListLimit = 10000

var txStates = map[string]verdictv1.TxState{
	"":          verdictv1.TxState_TX_STATE_UNSPECIFIED,
	"any":       verdictv1.TxState_TX_STATE_UNSPECIFIED,
	"active":    verdictv1.TxState_TX_STATE_ACTIVE,
	"preparing": verdictv1.TxState_TX_STATE_PREPARING,
	"committed": verdictv1.TxState_TX_STATE_COMMITTED,
	"aborted":   verdictv1.TxState_TX_STATE_ABORTED,
}

func stateName(s verdictv1.TxState) string {
	if name, ok := strings.CutPrefix(s.String(), "TX_STATE_"); ok {
		return strings.ToLower(name)
	}
	return s.String()
}

// dialCluster connects to the cluster through a connection that follows the
// leader: transaction state lives on the leader.
func (e *env) dialCluster() (*coordconn.Conn, int) {
	eps, _ := e.endpointList() // validated
	conn, err := coordconn.Dial(eps, e.dialOptions()...)
	if err != nil {
		fmt.Fprintf(e.stderr, "verdictctl: %v\n", err)
		return nil, exitUsage
	}
	return conn, exitOK
}

func setupTxList(fs *flag.FlagSet) func(e *env, args []string) int {
	state := fs.String("state", "", "only transactions in this state: active, preparing, committed or aborted")
	all := fs.Bool("all", false, "include transactions whose phase 2 is done")
	limit := fs.Int("limit", 100, fmt.Sprintf("at most this many (1 to %d)", maxListLimit))
	after := fs.String("after", "", "only transactions whose id sorts after this one (paging)")
	stuck := fs.Bool("stuck", false, "only stuck transactions: decided, phase 2 failing for longer than the leader's --stuck-after")
	olderThan := fs.Duration("older-than", 0, "only transactions begun longer ago than this (e.g. 5m), by the leader's clock")
	participant := fs.String("participant", "", "only transactions in which this participant (by name) takes part")
	return func(e *env, args []string) int {
		if len(args) > 0 {
			fmt.Fprintf(e.stderr, "verdictctl tx list: unexpected arguments %q\n", args)
			return exitUsage
		}
		st, ok := txStates[strings.ToLower(*state)]
		if !ok {
			fmt.Fprintf(e.stderr, "verdictctl tx list: --state %q: want active, preparing, committed or aborted\n", *state)
			return exitUsage
		}
		if *limit < 1 || *limit > maxListLimit {
			fmt.Fprintf(e.stderr, "verdictctl tx list: --limit %d: want 1 to %d\n", *limit, maxListLimit)
			return exitUsage
		}
		if *after != "" {
			if err := txid.Validate(*after); err != nil {
				fmt.Fprintf(e.stderr, "verdictctl tx list: --after: %v\n", err)
				return exitUsage
			}
		}
		if *olderThan < 0 {
			fmt.Fprintf(e.stderr, "verdictctl tx list: --older-than %v: must not be negative\n", *olderThan)
			return exitUsage
		}
		return callCluster(e, "tx list",
			func(ctx context.Context, conn *coordconn.Conn) (*verdictv1.ListTransactionsResponse, error) {
				return conn.Coordinator().ListTransactions(ctx, &verdictv1.ListTransactionsRequest{
					State: st, IncludeDone: *all, Limit: int32(*limit), AfterTxid: *after, Stuck: *stuck,
					OlderThanMs: olderThan.Milliseconds(), Participant: *participant,
				})
			},
			func(resp *verdictv1.ListTransactionsResponse) {
				printTxList(e.stdout, resp, *all, *stuck, *olderThan > 0 || *participant != "", time.Now())
			})
	}
}

func printTxList(w io.Writer, resp *verdictv1.ListTransactionsResponse, all, stuck, filtered bool, now time.Time) {
	txs := resp.GetTransactions()
	if len(txs) == 0 {
		if filtered {
			fmt.Fprintln(w, "No transactions match --older-than / --participant.")
		} else if stuck {
			fmt.Fprintln(w, "No stuck transactions.")
		} else if all {
			fmt.Fprintln(w, "No transactions.")
		} else {
			fmt.Fprintln(w, "No undecided or undelivered transactions (--all includes done ones).")
		}
		return
	}
	t := newTable(w)
	fmt.Fprintln(t, "TXID\tSTATE\tDONE\tSTUCK\tPARTICIPANTS\tAGE\tDECIDED\tREASON\tLAST ERROR")
	for _, tx := range txs {
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			tx.GetTxid(), stateName(tx.GetState()), yesNo(tx.GetDone()), yesNo(tx.GetStuck()), participantNames(tx),
			txAge(tx, now), decidedAgo(tx, now), orDash(oneLine(tx.GetReason(), 40)), orDash(oneLine(tx.GetLastError(), 60)))
	}
	t.Flush()
	if next := resp.GetNextAfterTxid(); next != "" {
		fmt.Fprintf(w, "More: --after %s\n", next)
	}
}

// txidArg returns the one transaction id of a command's arguments, or
// reports bad usage.
func (e *env) txidArg(cmd string, args []string) (string, bool) {
	if len(args) != 1 {
		fmt.Fprintf(e.stderr, "verdictctl %s: want exactly one transaction id\n", cmd)
		return "", false
	}
	if err := txid.Validate(args[0]); err != nil {
		fmt.Fprintf(e.stderr, "verdictctl %s: %v\n", cmd, err)
		return "", false
	}
	return args[0], true
}

func setupTxShow(fs *flag.FlagSet) func(e *env, args []string) int {
	return func(e *env, args []string) int {
		return txCommand(e, "tx show", args,
			func(ctx context.Context, conn *coordconn.Conn, id string) (*verdictv1.Transaction, error) {
				resp, err := conn.Coordinator().GetTransaction(ctx, &verdictv1.GetTransactionRequest{Txid: id})
				if st, ok := status.FromError(err); ok && st.Code() == codes.NotFound {
					err = status.Error(codes.NotFound, presumedAborted(st.Message()))
				}
				return resp.GetTransaction(), err
			}, nil)
	}
}

// presumedAborted adds to the cluster's "not found" (msg) what that
// means for the transaction, unless msg says it already (one older than
// the retention window).
func presumedAborted(msg string) string {
	if strings.Contains(msg, "retention") {
		return msg
	}
	return msg + ": the cluster does not know it, so it is presumed aborted " +
		"(never begun here, or aborted before its outcome was recorded), " +
		"unless it was committed in one phase by a leader that lost office before recording it: " +
		"then only its one participant knows"
}

// txCommand is the body of a command on one transaction (its only
// argument, TXID): it makes one call with the id and prints the
// transaction answered, after headline (if set) says what was done.
func txCommand(e *env, cmd string, args []string,
	call func(ctx context.Context, conn *coordconn.Conn, id string) (*verdictv1.Transaction, error),
	headline func(tx *verdictv1.Transaction) string,
) int {
	id, ok := e.txidArg(cmd, args)
	if !ok {
		return exitUsage
	}
	return callCluster(e, cmd,
		func(ctx context.Context, conn *coordconn.Conn) (*verdictv1.Transaction, error) {
			return call(ctx, conn, id)
		},
		func(tx *verdictv1.Transaction) {
			if headline != nil {
				fmt.Fprintf(e.stdout, "%s\n\n", headline(tx))
			}
			printTx(e.stdout, tx, time.Now())
		})
}

func printTx(w io.Writer, tx *verdictv1.Transaction, now time.Time) {
	t := newTable(w)
	fmt.Fprintf(t, "Transaction:\t%s\n", tx.GetTxid())
	state := stateName(tx.GetState())
	if n := len(tx.GetHeuristics()); tx.GetDone() && n > 0 {
		state += fmt.Sprintf(" (done: phase 2 complete, %d participant(s) resolved heuristically)", n)
	} else if tx.GetDone() {
		state += " (done: every participant has applied it)"
	} else if decided(tx) {
		state += " (phase 2 in progress)"
	}
	fmt.Fprintf(t, "State:\t%s\n", state)
	if created, err := txid.Time(tx.GetTxid()); err == nil {
		fmt.Fprintf(t, "Begun:\t%s (%s ago)\n", created.Format(time.RFC3339Nano), ago(now, created))
	}
	if ms := tx.GetDeadlineUnixMs(); ms > 0 {
		fmt.Fprintf(t, "Deadline:\t%s\n", unixMs(ms).Format(time.RFC3339Nano))
	}
	if ms := tx.GetDecidedUnixMs(); ms > 0 {
		fmt.Fprintf(t, "Decided:\t%s (%s ago)\n", unixMs(ms).Format(time.RFC3339Nano), ago(now, unixMs(ms)))
	}
	if ms := tx.GetDoneUnixMs(); ms > 0 {
		fmt.Fprintf(t, "Done:\t%s (%s ago)\n", unixMs(ms).Format(time.RFC3339Nano), ago(now, unixMs(ms)))
	}
	if r := tx.GetReason(); r != "" {
		fmt.Fprintf(t, "Reason:\t%s\n", oneLine(r, 0))
	}
	if ms := tx.GetFailingSinceUnixMs(); ms > 0 {
		stuck := ""
		if tx.GetStuck() {
			stuck = "STUCK, "
		}
		fmt.Fprintf(t, "Phase 2:\t%sfailing since %s (%s ago), %d failed attempts; `verdictctl tx retry %s` retries now\n",
			stuck, unixMs(ms).Format(time.RFC3339Nano), ago(now, unixMs(ms)), tx.GetFailedAttempts(), tx.GetTxid())
	}
	if e := tx.GetLastError(); e != "" {
		fmt.Fprintf(t, "Last error:\t%s\n", oneLine(e, 0))
	}
	t.Flush()

	ps := tx.GetParticipants()
	if len(ps) == 0 {
		fmt.Fprintln(w, "Participants: none known")
		return
	}
	fmt.Fprintln(w, "Participants:")
	t = newTable(w)
	fmt.Fprintln(t, "  NAME\tADDRESS\tPHASE 2")
	for _, p := range ps {
		fmt.Fprintf(t, "  %s\t%s\t%s\n", p.GetName(), p.GetAddress(), delivery(tx, p.GetName()))
	}
	t.Flush()
	printHeuristics(w, tx, now)
	printTimeline(w, tx)
}

// delivery says where phase 2 stands at one participant. Acknowledgements
// are known on the leader only, and only until the transaction is done.
func delivery(tx *verdictv1.Transaction, name string) string {
	switch {
	case !decided(tx):
		return "-"
	case slices.ContainsFunc(tx.GetHeuristics(), func(h *verdictv1.HeuristicResolution) bool { return h.GetParticipant() == name }):
		return "resolved heuristically"
	case tx.GetDone(), slices.Contains(tx.GetAcked(), name):
		return "acknowledged"
	default:
		return "pending"
	}
}

func decided(tx *verdictv1.Transaction) bool {
	s := tx.GetState()
	return s == verdictv1.TxState_TX_STATE_COMMITTED || s == verdictv1.TxState_TX_STATE_ABORTED
}

func participantNames(tx *verdictv1.Transaction) string {
	ps := tx.GetParticipants()
	if len(ps) == 0 {
		return "-"
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.GetName()
	}
	return strings.Join(names, ",")
}

func txAge(tx *verdictv1.Transaction, now time.Time) string {
	created, err := txid.Time(tx.GetTxid())
	if err != nil {
		return "-"
	}
	return ago(now, created)
}

func decidedAgo(tx *verdictv1.Transaction, now time.Time) string {
	ms := tx.GetDecidedUnixMs()
	if ms == 0 {
		return "-"
	}
	return ago(now, unixMs(ms)) + " ago"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a table on one line per row: newlines and tabs become
// spaces, and the text is cut to max runes (0: no limit).
func oneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
	if r := []rune(s); max > 0 && len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}
