package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

const helpIntro = `verdictctl operates a Verdict coordinator cluster and benchmarks it.

Usage:
  verdictctl COMMAND [ARGS] [FLAGS]
  verdictctl COMMAND --help          (also: verdictctl help COMMAND, verdictctl tx --help)
  verdictctl completion bash|zsh|fish|powershell   (shell completion; --help says how to load it)
  verdictctl version                 (also: verdictctl --version)

Flags may come before or after the command words, as --flag value or
--flag=value.

Commands:
`

const helpCluster = `
Changing membership:
  Add a node, then start it with --join on an empty data dir (or start it
  first: it waits for the leader). It joins as a learner and is promoted to
  voter once caught up; "cluster add" waits for that, up to --timeout
  (--wait=false returns at once).
    verdictctl cluster add 4=10.0.0.4:7400 --timeout 1m
    verdict --id 4 --join --peers 1=...,2=...,3=...,4=10.0.0.4:7400 --data-dir DIR
  A removed id can never be added again. Transfer leadership away from a
  node before maintenance with "cluster transfer ID": it waits, up to
  --timeout, until node ID has taken office, and fails at once if the
  leader has not heard from it lately.
`

const helpTx = `
Stuck transactions:
  "tx list --stuck" finds decided transactions whose phase 2 keeps failing;
  "tx show TXID" gives the leader's timeline of one: begin, enlistments,
  votes, the decision, each failed delivery with its error, acks.
  "tx retry TXID" re-drives phase 2 now. A participant gone for good:
    verdictctl tx forget TXID --participant orders --reason "host lost, data restored"
  resolves its part by hand (heuristic): written to the replicated log with
  who, when and why, published as a "heuristic" event; repair that
  participant's data by hand. "pg prepared --dsn DSN" lists what a
  PostgreSQL database holds prepared for Verdict, with the coordinator's
  outcome; --resolve applies it (COMMIT or ROLLBACK PREPARED). One found
  gone meanwhile is told apart by the participants' marker row
  (--marker-table): ended the other way, it is reported as a heuristic
  outcome, to repair by hand.
`

const helpGlobals = `
Global flags (every command):
  --endpoints LIST   coordinator endpoints (host:port), comma-separated
                     (default 127.0.0.1:7400; a host without a port: port 7400)
  -o, --output FMT   table (for people, default) or json (for scripts)
  --timeout D        timeout of each call to the cluster (default 5s)
  --tls-ca FILE      connect over TLS, verifying the nodes against this CA
  --tls-cert FILE    client certificate (a node serving TLS requires one),
  --tls-key FILE     and its key; with OU verdict-admin it may do operator actions
  --admin-token T    admin token for operator actions (default $VERDICT_ADMIN_TOKEN)

Environment: VERDICT_ENDPOINTS, VERDICT_TLS_CA, VERDICT_TLS_CERT,
VERDICT_TLS_KEY and VERDICT_ADMIN_TOKEN stand for the flags when these
are left out.
`

const helpExitCodes = `
Exit codes:
  0  success
  1  failure: the cluster is unreachable (no endpoint answers), it refused
     the action in the transaction's or cluster's current state (tx retry
     of a done transaction, tx abort of a decided one, tx forget of a done
     transaction or of a participant that acknowledged, removing the last
     voter), PostgreSQL is unreachable (pg prepared), an internal error, or
     a benchmark that failed, committed nothing, broke atomicity or left
     transactions prepared (stderr says which)
  2  bad usage or input (unknown command or flag, malformed transaction id,
     tx forget without --participant or --reason), or the transaction,
     participant or member asked about does not exist
  3  pg prepared --resolve left prepared transactions unresolved (outcome
     pending, expired or unknown, COMMIT/ROLLBACK PREPARED failed, or a
     heuristic outcome: resolved by someone else against the outcome): the
     output says why for each; run it again later or resolve them by hand
`

func printHelp(w io.Writer) {
	fmt.Fprint(w, helpIntro)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace(c.name()+" "+c.args), c.summary)
	}
	tw.Flush()
	fmt.Fprint(w, helpCluster)
	fmt.Fprint(w, helpTx)
	fmt.Fprint(w, helpGlobals)
	fmt.Fprint(w, helpExitCodes)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
