package engine

import (
	"fmt"
	"testing"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

func TestTimelineBounds(t *testing.T) {
	l := newTimeline(SystemClock())
	for i := range attemptsKept + 5 {
		l.add(tx1, eventAttempt, "p", fmt.Sprint(i))
		l.add(tx1, eventAttempt, "q", fmt.Sprint(i))
	}
	tx := &verdictv1.Transaction{Txid: tx1}
	l.annotate(tx)
	kept := map[string][]string{}
	for _, e := range tx.GetTimeline() {
		kept[e.GetParticipant()] = append(kept[e.GetParticipant()], e.GetDetail())
	}
	for _, p := range []string{"p", "q"} {
		if len(kept[p]) != attemptsKept || kept[p][0] != "5" || kept[p][attemptsKept-1] != fmt.Sprint(attemptsKept+4) {
			t.Errorf("attempts kept for %s = %v; want the latest %d", p, kept[p], attemptsKept)
		}
	}

	for i := range finishedKept + 10 {
		id := fmt.Sprintf("01936b2a-0000-7000-9000-%012x", i) // none is tx1
		l.add(id, eventBegin, "", "")
		l.finish(id)
	}
	l.finish(tx2) // unknown: nothing
	if n := len(l.txs); n != finishedKept+1 {
		t.Errorf("%d timelines kept, want %d finished + 1 unfinished", n, finishedKept)
	}
	if _, ok := l.txs[tx1]; !ok {
		t.Error("an unfinished timeline was dropped")
	}
	l.reset()
	if len(l.txs) != 0 || len(l.finished) != 0 {
		t.Error("reset kept timelines")
	}
}
