package coordinator

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/verdict-tx/verdict/coordinator/engine"
)

// natsLink is a node's connection to NATS, made when Config.NatsURL is set:
// the leader publishes staged messages to JetStream over it (publisher) and
// every node publishes its lifecycle events (events).
//
// It owns its event publisher's goroutine (start); close ends it, then
// closes the connection.
type natsLink struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	events *events
	cancel context.CancelFunc // ends the event publisher; nil before start
	done   chan struct{}      // closed when the event publisher has ended
}

// connectNATS connects to url. The connection is made in the background
// when the server is not reachable yet, and is re-made whenever it drops:
// a NATS outage delays phase 2 of transactions with messages (they are
// retried, and marked stuck in the end) and drops events, but it never
// stops the node.
func connectNATS(url string, log *slog.Logger, eventQueue int) (*natsLink, error) {
	nc, err := nats.Connect(url,
		nats.Name("verdict-coordinator"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats: disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats: reconnected", "url", c.ConnectedUrlRedacted()) }),
	)
	if err != nil {
		return nil, fmt.Errorf("verdict: nats %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("verdict: nats jetstream: %w", err)
	}
	return &natsLink{nc: nc, js: js, events: newEvents(nc, log, eventQueue)}, nil
}

// Emit queues a lifecycle event (engine.Publisher).
func (l *natsLink) Emit(ev engine.Event) { l.events.emit(ev) }

// start starts publishing the queued lifecycle events.
func (l *natsLink) start() {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan struct{})
	go func() { // ended and waited for by close
		defer close(l.done)
		l.events.run(ctx)
	}()
}

// close ends the event publisher (events still queued are dropped), then
// closes the connection.
func (l *natsLink) close() {
	if l == nil {
		return
	}
	if l.cancel != nil {
		l.cancel()
		<-l.done
	}
	l.nc.Close()
}

// dropped is the number of lifecycle events dropped; 0 without NATS.
func (l *natsLink) dropped() uint64 {
	if l == nil {
		return 0
	}
	return l.events.Dropped()
}
