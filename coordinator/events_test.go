package coordinator

import (
	"testing"
	"time"

	"github.com/verdict-tx/verdict/coordinator/engine"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// TestEventsNeverBlock: a full queue drops (and counts) events instead of
// waiting; a nil publisher (no NATS) does nothing.
func TestEventsNeverBlock(t *testing.T) {
	var off *events
	off.emit(engine.Event{Kind: EventCommitted, Txid: tx1, Outcome: committed, Time: time.Now()})

	e := &events{log: testLogger(), q: make(chan Event, 2)} // no publisher goroutine: the queue fills
	parts := []*verdictv1.ParticipantRef{{Name: "p1", Address: "p1:1"}}
	for range 5 {
		e.emit(engine.Event{Kind: EventCommitted, Txid: tx1, Outcome: committed, Participants: parts, Time: time.Now()})
	}
	if got := e.Dropped(); got != 3 {
		t.Fatalf("dropped %d events, want 3", got)
	}
	if ev := <-e.q; ev.TxID != tx1 || ev.Kind != EventCommitted || ev.Outcome != "committed" || len(ev.Participants) != 1 {
		t.Fatalf("queued event %+v", ev)
	}
}
