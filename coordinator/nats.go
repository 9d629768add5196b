package coordinator

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsLink is a node's connection to NATS, made when Config.NatsURL is set:
// the leader publishes staged messages to JetStream over it (publisher) and
// every node publishes its lifecycle events (events).
type natsLink struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	events *events
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

// close closes the connection; the event publisher (the engine's) has
// stopped.
func (l *natsLink) close() {
	if l == nil {
		return
	}
	l.nc.Close()
}
