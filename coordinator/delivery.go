package coordinator

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc/status"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Phase-2 delivery tuning.
const (
	deliveryBatch    = 512                   // txids per Commit/Abort call
	deliveryTimeout  = 5 * time.Second       // per call
	doneFlushEvery   = 20 * time.Millisecond // DONE records are batched
	retryBackoffBase = 10 * time.Millisecond
)

// delivery drives phase 2 on the leader: it sends each decision to its
// participants, batched per participant address, retries with exponential
// backoff and jitter (capped), and, once every participant of a transaction
// has acknowledged, appends DONE (batched, waited for by no one).
type delivery struct {
	c        *Coordinator
	log      *slog.Logger
	maxRetry time.Duration

	mu      sync.Mutex
	txs     map[string]*pending
	senders map[string]*sender
	done    []string

	stop chan struct{}
	wg   sync.WaitGroup
}

// pending is a decided transaction whose phase 2 is not complete.
type pending struct {
	outcome   verdictv1.Outcome
	remaining map[string]bool // participant names not yet acknowledged
	parts     []*verdictv1.ParticipantRef
	lastErr   string
}

type item struct {
	txid, name string
	outcome    verdictv1.Outcome
}

// sender delivers to one participant address.
type sender struct {
	addr  string
	queue []item
	wake  chan struct{}
}

func newDelivery(c *Coordinator, log *slog.Logger, maxRetry time.Duration) *delivery {
	return &delivery{
		c:        c,
		log:      log,
		maxRetry: maxRetry,
		txs:      map[string]*pending{},
		senders:  map[string]*sender{},
		stop:     make(chan struct{}),
	}
}

// deliver starts phase 2 of a decision; a transaction already being
// delivered is left alone.
func (d *delivery) deliver(id string, o verdictv1.Outcome, parts []*verdictv1.ParticipantRef) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.txs[id]; ok {
		return
	}
	if len(parts) == 0 {
		d.done = append(d.done, id)
		return
	}
	p := &pending{outcome: o, remaining: make(map[string]bool, len(parts)), parts: parts}
	d.txs[id] = p
	for _, part := range parts {
		p.remaining[part.GetName()] = true
		s := d.senderLocked(part.GetAddress())
		s.queue = append(s.queue, item{txid: id, name: part.GetName(), outcome: o})
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (d *delivery) senderLocked(addr string) *sender {
	s, ok := d.senders[addr]
	if !ok {
		s = &sender{addr: addr, wake: make(chan struct{}, 1)}
		d.senders[addr] = s
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.run(s)
		}()
	}
	return s
}

// reset forgets every pending delivery: leadership changed, and the next
// ready leader re-drives phase 2 from the log.
func (d *delivery) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.txs = map[string]*pending{}
	d.done = nil
	for _, s := range d.senders {
		s.queue = nil
	}
}

// annotate adds what the leader knows of phase 2 to tx: acknowledgements and
// the last delivery error.
func (d *delivery) annotate(tx *verdictv1.Transaction) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.txs[tx.GetTxid()]
	if !ok {
		return
	}
	for _, part := range p.parts {
		if !p.remaining[part.GetName()] {
			tx.Acked = append(tx.Acked, part.GetName())
		}
	}
	tx.LastError = p.lastErr
}

// run sends s's queue in batches until delivery stops.
func (d *delivery) run(s *sender) {
	failures := 0
	for {
		select {
		case <-s.wake:
		case <-d.stop:
			return
		}
		for {
			batch := d.take(s)
			if len(batch) == 0 {
				break
			}
			if err := d.send(s.addr, batch); err != nil {
				failures++
				d.failed(s, batch, err)
				if !d.sleep(backoff(failures, d.maxRetry)) {
					return
				}
				continue
			}
			failures = 0
			d.acked(batch)
		}
	}
}

// take removes up to deliveryBatch items of one outcome from s's queue,
// skipping those no longer pending.
func (d *delivery) take(s *sender) []item {
	d.mu.Lock()
	defer d.mu.Unlock()
	var batch []item
	kept := s.queue[:0]
	for _, it := range s.queue {
		p, ok := d.txs[it.txid]
		switch {
		case !ok || !p.remaining[it.name]:
		case len(batch) < deliveryBatch && (len(batch) == 0 || batch[0].outcome == it.outcome):
			batch = append(batch, it)
		default:
			kept = append(kept, it)
		}
	}
	s.queue = kept
	return batch
}

func (d *delivery) send(addr string, batch []item) error {
	ids := make([]string, len(batch))
	for i, it := range batch {
		ids[i] = it.txid
	}
	ctx, cancel := context.WithTimeout(d.c.ctx, deliveryTimeout)
	defer cancel()
	return d.c.parts.decide(ctx, addr, batch[0].outcome, ids)
}

// failed puts batch back at the front of s's queue and records err.
func (d *delivery) failed(s *sender, batch []item, err error) {
	msg := status.Convert(err).Message()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, it := range batch {
		if p, ok := d.txs[it.txid]; ok {
			p.lastErr = "participant " + it.name + ": " + msg
		}
	}
	s.queue = append(batch, s.queue...)
	d.log.Debug("phase-2 delivery failed", "participant", s.addr, "txids", len(batch), "err", msg)
}

func (d *delivery) acked(batch []item) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, it := range batch {
		p, ok := d.txs[it.txid]
		if !ok {
			continue
		}
		delete(p.remaining, it.name)
		if len(p.remaining) == 0 {
			delete(d.txs, it.txid)
			d.done = append(d.done, it.txid)
		}
	}
}

// flushDone runs until stop: every doneFlushEvery it proposes one DONE
// record for the transactions whose phase 2 completed.
func (d *delivery) flushDone() {
	t := time.NewTicker(doneFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-d.stop:
			return
		}
		d.mu.Lock()
		ids := d.done
		d.done = nil
		d.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		rec := &verdictv1.LogRecord{Kind: &verdictv1.LogRecord_Done{Done: &verdictv1.Done{
			Txids: ids, DoneUnixMs: d.c.cfg.clock.Now().UnixMilli(),
		}}}
		if _, err := d.c.prop.submit(context.Background(), rec, false); err != nil {
			d.log.Debug("done record not proposed", "txids", len(ids), "err", err)
		}
	}
}

func (d *delivery) sleep(dur time.Duration) bool {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-d.stop:
		return false
	}
}

func (d *delivery) close() {
	close(d.stop)
	d.wg.Wait()
}

// backoff is exponential in the number of consecutive failures, capped at
// max, with full jitter over its upper half.
func backoff(failures int, max time.Duration) time.Duration {
	b := retryBackoffBase << min(failures-1, 20)
	if b > max || b <= 0 {
		b = max
	}
	return b/2 + rand.N(b/2+1)
}
