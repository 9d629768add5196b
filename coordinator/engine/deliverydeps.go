package engine

import (
	"context"
	"time"

	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// phase2Deps wires phase-2 delivery to the engine. The proposer is made at
// Start, after delivery is built, and the log's clock changes with each
// term, so those are read at each call.
func (c *Engine) phase2Deps() phase2Deps {
	return phase2Deps{
		ctx:       c.ctx,
		clock:     c.cfg.clock,
		goroutine: c.goroutine,
		decide:    c.parts.Decide,
		publish:   c.publishStaged,
		propose: func(ctx context.Context, rec *logv1.LogRecord, wait bool) error {
			_, err := c.prop.submit(ctx, rec, wait)
			return err
		},
		logNow:   c.logNow,
		recorded: c.fsm.recorded,
		timeline: c.timeline,
		retried:  c.obs.Retried,
		stuck: func(id string, o verdictv1.Outcome, reason string, parts []*verdictv1.ParticipantRef, now time.Time) {
			if c.pub != nil {
				c.pub.Emit(Event{Kind: EventStuck, Txid: id, Outcome: o, Reason: reason, Participants: parts, Time: now})
			}
		},
		hooks:  c.cfg.hooks,
		tracer: c.tracer,
	}
}
