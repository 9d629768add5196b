package coordinator

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/verdict-tx/verdict/coordinator/engine"
)

// EventSubjectPrefix is where lifecycle events are published: each on
// EventSubjectPrefix + kind (verdict.events.committed, ...), so a
// dashboard or an audit stream subscribes to "verdict.events.>".
const EventSubjectPrefix = "verdict.events."

// Event kinds (see engine.EventCommitted, ...).
const (
	EventCommitted = engine.EventCommitted
	EventAborted   = engine.EventAborted
	EventStuck     = engine.EventStuck
	EventHeuristic = engine.EventHeuristic
)

// Event is the JSON body of a lifecycle event.
type Event struct {
	TxID         string    `json:"txid"`
	Kind         string    `json:"kind"`
	Outcome      string    `json:"outcome"`
	Reason       string    `json:"reason,omitempty"`
	Participants []string  `json:"participants,omitempty"`
	Time         time.Time `json:"time"`
}

// events publishes lifecycle events to core NATS, best effort: emit never
// blocks (a full queue drops the event and counts it), and events are not
// retried. They are for dashboards and audit trails, not for correctness;
// a consumer that must see every outcome asks the coordinator.
type events struct {
	nc      *nats.Conn
	log     *slog.Logger
	q       chan Event
	dropped atomic.Uint64
}

// newEvents publishes on nc once run runs; queue (Config.EventQueue,
// positive) bounds the events waiting.
func newEvents(nc *nats.Conn, log *slog.Logger, queue int) *events {
	return &events{nc: nc, log: log, q: make(chan Event, queue)}
}

// emit queues an event; a nil *events (NATS not configured) does nothing.
func (e *events) emit(ev engine.Event) {
	if e == nil {
		return
	}
	body := Event{TxID: ev.Txid, Kind: ev.Kind, Outcome: engine.OutcomeWord(ev.Outcome), Reason: ev.Reason, Time: ev.Time.UTC()}
	if len(ev.Participants) > 0 {
		body.Participants = make([]string, len(ev.Participants))
		for i, p := range ev.Participants {
			body.Participants[i] = p.GetName()
		}
	}
	select {
	case e.q <- body:
	default:
		if n := e.dropped.Add(1); n == 1 || n%1000 == 0 {
			e.log.Warn("lifecycle event queue full: events dropped", "kind", ev.Kind, "txid", ev.Txid, "dropped_total", n)
		}
	}
}

// Dropped returns how many events were dropped because the queue was full
// or NATS refused them.
func (e *events) Dropped() uint64 { return e.dropped.Load() }

// run publishes queued events until ctx (the NATS link's) is cancelled;
// events still queued then are dropped.
func (e *events) run(ctx context.Context) {
	for {
		select {
		case ev := <-e.q:
			data, err := json.Marshal(ev)
			if err == nil {
				err = e.nc.Publish(EventSubjectPrefix+ev.Kind, data)
			}
			if err != nil {
				if n := e.dropped.Add(1); n == 1 || n%1000 == 0 {
					e.log.Warn("lifecycle event not published", "kind", ev.Kind, "txid", ev.TxID, "dropped_total", n, "err", err)
				}
			}
		case <-ctx.Done():
			return
		}
	}
}
