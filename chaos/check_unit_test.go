package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/chaos/journal"
)

// TestCheckFindsViolations feeds the checker histories that break each
// invariant, so that a clean chaos run means something.
func TestCheckFindsViolations(t *testing.T) {
	at := time.Now()
	rec := func(op journal.Op, id string) journal.Record { return journal.Record{Time: at, Op: op, TxID: id} }
	l := newLedger(nil)
	for part, recs := range map[string][]journal.Record{
		"p1": {
			rec('S', "split"), rec('P', "split"), rec('C', "split"),
			rec('S', "lost"), rec('P', "lost"),
			rec('S', "told-aborted"), rec('P', "told-aborted"), rec('C', "told-aborted"),
			rec('S', "ok"), rec('P', "ok"), rec('C', "ok"),
			rec('S', "unvoted"), rec('P', "unvoted"), rec('C', "unvoted"),
		},
		"p2": {
			rec('S', "split"), rec('A', "split"),
			rec('S', "lost"), rec('P', "lost"), rec('C', "lost"),
			rec('S', "told-aborted"), rec('P', "told-aborted"), rec('C', "told-aborted"),
			rec('S', "ok"), rec('P', "ok"), rec('C', "ok"),
			rec('S', "unvoted"),
			{Time: at, Op: 'V', TxID: "x", Detail: "commit of a aborted transaction"},
		},
	} {
		for _, r := range recs {
			l.apply(part, r)
		}
	}
	both := []string{"p1", "p2"}
	rep := check([]txRecord{
		{id: "ok", staged: both, outcome: outCommitted},
		{id: "lost", staged: both, outcome: outCommitted},
		{id: "told-aborted", staged: both, outcome: outAborted},
	}, l)
	got := strings.Join(rep.violations, "\n")
	for _, want := range []string{
		"p2 refused for x",
		"atomicity: split committed and aborted",
		"unanimity: unvoted",
		"durability: lost reported COMMITTED but p1 is prepared",
		"atomicity: told-aborted reported aborted",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("violations lack %q:\n%s", want, got)
		}
	}
	if len(rep.violations) != 5 {
		t.Errorf("got %d violations, want 5:\n%s", len(rep.violations), got)
	}
	if len(rep.unresolved) != 1 || !strings.HasPrefix(rep.unresolved[0], "lost ") {
		t.Errorf("unresolved = %v, want lost", rep.unresolved)
	}
}
