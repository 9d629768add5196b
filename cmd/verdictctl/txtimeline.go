package main

import (
	"fmt"
	"io"
	"time"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// printHeuristics prints the operators' heuristic resolutions of tx: who,
// when, why (they are replicated: every node knows them).
func printHeuristics(w io.Writer, tx *verdictv1.Transaction, now time.Time) {
	hs := tx.GetHeuristics()
	if len(hs) == 0 {
		return
	}
	fmt.Fprintln(w, "Heuristic resolutions (tx forget):")
	t := newTable(w)
	fmt.Fprintln(t, "  PARTICIPANT\tBY\tWHEN\tREASON")
	for _, h := range hs {
		at := unixMs(h.GetUnixMs())
		fmt.Fprintf(t, "  %s\t%s\t%s (%s ago)\t%s\n", h.GetParticipant(), oneLine(h.GetOperator(), 60),
			at.Format(time.RFC3339), ago(now, at), oneLine(h.GetReason(), 0))
	}
	t.Flush()
}

// printTimeline prints what the leader saw happen to tx, with each event's
// offset from the first.
func printTimeline(w io.Writer, tx *verdictv1.Transaction) {
	events := tx.GetTimeline()
	if len(events) == 0 {
		fmt.Fprintln(w, "Timeline: none at this leader (it keeps the timelines of the transactions it handled since it took office, and of the latest finished ones)")
		return
	}
	fmt.Fprintln(w, "Timeline (the leader's memory; failed attempts: the last 16 per participant):")
	t := newTable(w)
	fmt.Fprintln(t, "  TIME\tAFTER\tEVENT\tPARTICIPANT\tDETAIL")
	start := unixMs(events[0].GetUnixMs())
	for _, ev := range events {
		at := unixMs(ev.GetUnixMs())
		fmt.Fprintf(t, "  %s\t+%s\t%s\t%s\t%s\n", at.UTC().Format("15:04:05.000"), at.Sub(start),
			ev.GetKind(), orDash(ev.GetParticipant()), oneLine(ev.GetDetail(), 100))
	}
	t.Flush()
}
