package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/verdict-tx/verdict/internal/coordconn"
	"github.com/verdict-tx/verdict/participant/postgres"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// What pg prepared does, or would do with --resolve, with one prepared
// transaction.
const (
	pgCommit   = "commit"   // COMMIT PREPARED: the coordinator says committed
	pgRollback = "rollback" // ROLLBACK PREPARED: the coordinator says aborted
	pgLeave    = "leave"    // the outcome is not known: left prepared
)

// pgPrepared is one of Verdict's prepared transactions in the database.
type pgPrepared struct {
	GID        string    `json:"gid"`
	TxID       string    `json:"txid"`
	Branch     string    `json:"branch"`
	PreparedAt time.Time `json:"prepared_at"`
	AgeMs      int64     `json:"age_ms"`
	Owner      string    `json:"owner"`
	// Outcome is the coordinator's: committed, aborted, pending, expired,
	// or unknown (not asked: a gid Verdict did not make; or no answer).
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	// Action is what --resolve does (or did): commit, rollback or leave.
	Action string `json:"action"`
	// Applied: --resolve ran the action, or found the transaction gone
	// and ended the same way (Gone).
	Applied bool `json:"applied"`
	// Gone: --resolve found the gid gone (resolved meanwhile by someone
	// else); the adapter's marker row told how it ended.
	Gone bool `json:"gone,omitempty"`
	// Heuristic is how a gone transaction ended against the coordinator's
	// outcome ("rolled back" although committed, or "committed" although
	// aborted): atomicity is broken, the data must be repaired by hand. It
	// is counted as left.
	Heuristic string `json:"heuristic,omitempty"`
	// Note says why a transaction is left, or what applying it met.
	Note string `json:"note,omitempty"`
}

type pgReport struct {
	Database string       `json:"database"`
	Prefix   string       `json:"prefix"`
	Prepared []pgPrepared `json:"prepared"`
	Resolved int          `json:"resolved"`
	// Left counts the transactions not resolved, Heuristic among them.
	Left      int `json:"left"`
	Heuristic int `json:"heuristic"`
}

func setupPgPrepared(fs *flag.FlagSet) func(e *env, args []string) int {
	dsn := fs.String("dsn", "", "the PostgreSQL database, e.g. postgres://user@host:5432/orders (required)")
	prefix := fs.String("prefix", postgres.DefaultPrefix, "the gid prefix of the participants (their postgres.Config.Prefix)")
	resolve := fs.Bool("resolve", false, "apply the coordinator's outcome: COMMIT PREPARED or ROLLBACK PREPARED; pending, expired and unknown ones are left, with the reason")
	markers := fs.String("marker-table", postgres.DefaultMarkerTable, "the participants' marker table (their postgres.Config.MarkerTable): it tells how a transaction that vanished before --resolve came to it ended")
	return func(e *env, args []string) int {
		if len(args) > 0 {
			fmt.Fprintf(e.stderr, "verdictctl pg prepared: unexpected arguments %q\n", args)
			return exitUsage
		}
		if *dsn == "" {
			fmt.Fprintln(e.stderr, "verdictctl pg prepared: --dsn is required")
			return exitUsage
		}
		if err := postgres.CheckMarkerTable(*markers); err != nil {
			fmt.Fprintf(e.stderr, "verdictctl pg prepared: --marker-table: %v\n", err)
			return exitUsage
		}
		cfg, err := pgx.ParseConfig(*dsn)
		if err != nil {
			fmt.Fprintf(e.stderr, "verdictctl pg prepared: --dsn: %v\n", err)
			return exitUsage
		}
		ctx, cancel := e.callContext()
		db, err := pgx.ConnectConfig(ctx, cfg)
		cancel()
		if err != nil {
			fmt.Fprintf(e.stderr, "verdictctl pg prepared: PostgreSQL unreachable: %v\n", err)
			return exitFailure
		}
		defer db.Close(context.Background())
		rep, err := listPrepared(e, db, *prefix)
		if err != nil {
			fmt.Fprintf(e.stderr, "verdictctl pg prepared: %v\n", err)
			return exitFailure
		}
		if len(rep.Prepared) > 0 {
			conn, code := e.dialCluster()
			if conn == nil {
				return code
			}
			defer conn.Close()
			askOutcomes(e, conn, rep.Prepared)
		}
		if *resolve {
			applyOutcomes(e, db, *markers, rep)
		}
		if e.json() {
			if err := writeJSON(e.stdout, rep); err != nil {
				fmt.Fprintf(e.stderr, "verdictctl pg prepared: %v\n", err)
				return exitFailure
			}
		} else {
			printPrepared(e.stdout, rep, *resolve)
		}
		if *resolve && rep.Left > 0 {
			return exitPartial
		}
		return exitOK
	}
}

// listPrepared lists the prepared transactions of the database whose gid
// starts with prefix, oldest first.
func listPrepared(e *env, db *pgx.Conn, prefix string) (*pgReport, error) {
	ctx, cancel := e.callContext()
	defer cancel()
	rep := &pgReport{Prefix: prefix, Prepared: []pgPrepared{}}
	if err := db.QueryRow(ctx, "SELECT current_database()").Scan(&rep.Database); err != nil {
		return nil, err
	}
	rows, err := db.Query(ctx, `SELECT gid, prepared, owner FROM pg_prepared_xacts
		WHERE database = current_database() AND starts_with(gid, $1) ORDER BY prepared, gid`, prefix+":")
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for rows.Next() {
		var p pgPrepared
		if err := rows.Scan(&p.GID, &p.PreparedAt, &p.Owner); err != nil {
			return nil, err
		}
		p.AgeMs = now.Sub(p.PreparedAt).Milliseconds()
		p.Outcome, p.Action = "unknown", pgLeave
		var ok bool
		if p.TxID, p.Branch, ok = postgres.ParseGID(p.GID, prefix); !ok {
			p.Note = "not a gid Verdict makes (" + prefix + ":<txid>:<branch>)"
		}
		rep.Prepared = append(rep.Prepared, p)
	}
	return rep, rows.Err()
}

// askOutcomes asks the cluster the outcome of each prepared transaction
// and sets the action that applies it.
func askOutcomes(e *env, conn *coordconn.Conn, ps []pgPrepared) {
	for i := range ps {
		p := &ps[i]
		if p.TxID == "" {
			continue
		}
		ctx, cancel := e.callContext()
		// Asked for a transaction this database holds prepared, as its
		// participant's recovery loop asks: one the leader does not know
		// is presumed aborted. Unlike that loop, nothing here holds off
		// the participant's Commit between this question and the
		// ROLLBACK PREPARED (a leader that committed the transaction in
		// one phase and lost office before recording it leaves the next
		// one presuming an abort). PostgreSQL settles that race on the
		// gid: whichever of COMMIT PREPARED and ROLLBACK PREPARED comes
		// second finds it gone. The adapter's Commit then fails on the
		// missing marker row, never acknowledging (the old leader reports
		// the outcome ambiguous); applyOne finds the marker row and
		// reports the commit, never undoing it.
		resp, err := conn.Coordinator().Outcome(ctx, &verdictv1.OutcomeRequest{Txid: p.TxID, Prepared: true})
		cancel()
		if err != nil {
			p.Note = "no outcome from the coordinator: " + describe(err)
			continue
		}
		p.Reason = resp.GetReason()
		switch resp.GetOutcome() {
		case verdictv1.Outcome_OUTCOME_COMMITTED:
			p.Outcome, p.Action = "committed", pgCommit
		case verdictv1.Outcome_OUTCOME_ABORTED:
			p.Outcome, p.Action = "aborted", pgRollback
		case verdictv1.Outcome_OUTCOME_PENDING:
			p.Outcome, p.Note = "pending", "still active or preparing at the leader: its participant resolves it once decided"
		case verdictv1.Outcome_OUTCOME_EXPIRED:
			p.Outcome, p.Note = "expired", "the coordinator no longer keeps its outcome: check the other participants, then COMMIT PREPARED or ROLLBACK PREPARED by hand"
		case verdictv1.Outcome_OUTCOME_UNKNOWN:
			p.Note = "the coordinator cannot know its outcome: check the other participants, then COMMIT PREPARED or ROLLBACK PREPARED by hand"
		default:
			p.Note = "unexpected outcome " + resp.GetOutcome().String()
		}
	}
}

// applyOutcomes runs COMMIT PREPARED or ROLLBACK PREPARED for each
// transaction whose outcome is known, and counts what is resolved and left.
// A transaction found gone that ended against its outcome (told by the
// marker rows of markerTable) is a heuristic outcome: reported, and left.
func applyOutcomes(e *env, db *pgx.Conn, markerTable string, rep *pgReport) {
	for i := range rep.Prepared {
		p := &rep.Prepared[i]
		if p.Action == pgLeave {
			rep.Left++
			continue
		}
		if err := applyOne(e, db, markerTable, p); err != nil {
			p.Note = err.Error()
			rep.Left++
			if p.Heuristic != "" {
				rep.Heuristic++
			}
			continue
		}
		p.Applied = true
		rep.Resolved++
	}
}

// applyOne applies p's action. If the gid is gone, resolved meanwhile by
// someone else, p's marker row tells how it ended: the same way is
// success; the other way is a heuristic outcome, returned as an error (and
// set in p.Heuristic).
func applyOne(e *env, db *pgx.Conn, markerTable string, p *pgPrepared) error {
	quoted, err := postgres.QuoteGID(p.GID)
	if err != nil {
		return err
	}
	sql := "COMMIT PREPARED " + quoted
	if p.Action == pgRollback {
		sql = "ROLLBACK PREPARED " + quoted
	}
	ctx, cancel := e.callContext()
	defer cancel()
	if _, err = db.Exec(ctx, sql); !postgres.IsGIDGone(err) {
		return err
	}
	p.Gone = true
	committed, err := postgres.MarkerExists(ctx, db, markerTable, p.GID)
	if err != nil {
		return fmt.Errorf("gone meanwhile, resolved by someone else; how it ended is unknown: %w", err)
	}
	evidence := "its gid and its marker row in " + markerTable + " are gone"
	switch {
	case committed == (p.Action == pgCommit):
		p.Note = "resolved meanwhile by someone else (its participant's recovery, most likely)"
		return nil
	case committed:
		p.Heuristic = postgres.HeuristicCommit.String()
		evidence = "its gid is gone, its marker row in " + markerTable + " is there"
	default:
		p.Heuristic = postgres.HeuristicRollback.String()
	}
	err = fmt.Errorf("heuristic outcome: %s by someone else (%s), although the coordinator's outcome is %s: atomicity is broken, repair the data by hand",
		p.Heuristic, evidence, p.Outcome)
	if committed {
		err = fmt.Errorf("%w; unless this was its only participant: a coordinator leader may have committed it in one phase and lost office before recording it, so that the next one presumed an abort, and then it is committed everywhere", err)
	}
	return err
}

func printPrepared(w io.Writer, rep *pgReport, resolve bool) {
	if len(rep.Prepared) == 0 {
		fmt.Fprintf(w, "No prepared transactions of Verdict's (gid prefix %q) in database %s.\n", rep.Prefix+":", rep.Database)
		return
	}
	fmt.Fprintf(w, "Database %s: %d prepared transactions of Verdict's (gid prefix %q).\n", rep.Database, len(rep.Prepared), rep.Prefix+":")
	t := newTable(w)
	action := "ACTION (--resolve)"
	if resolve {
		action = "ACTION"
	}
	fmt.Fprintf(t, "TXID\tBRANCH\tAGE\tOUTCOME\t%s\tNOTE\n", action)
	for _, p := range rep.Prepared {
		act := p.Action
		if resolve {
			act = resolvedWord(p)
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\n", orDash(p.TxID), orDash(p.Branch), ago(time.Now(), p.PreparedAt),
			p.Outcome, act, orDash(oneLine(p.Note, 100)))
	}
	t.Flush()
	if resolve {
		fmt.Fprintf(w, "Resolved %d, left %d prepared.\n", rep.Resolved, rep.Left)
		if rep.Heuristic > 0 {
			fmt.Fprintf(w, "HEURISTIC OUTCOMES: %d transactions were resolved by someone else against the coordinator's outcome; repair their data by hand.\n", rep.Heuristic)
		}
	}
}

// resolvedWord says what --resolve did with p, or found done.
func resolvedWord(p pgPrepared) string {
	word := "rolled back"
	if p.Action == pgCommit {
		word = "committed"
	}
	switch {
	case p.Heuristic != "":
		return "heuristic: " + p.Heuristic + " by someone else"
	case !p.Applied:
		return "left"
	case p.Gone:
		return "already " + word
	default:
		return word
	}
}
