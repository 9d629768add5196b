package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/verdict-tx/verdict/coordinator/table"
	logv1 "github.com/verdict-tx/verdict/proto/verdict/log/v1"
)

// Batching limits: records that arrive together go into one Raft entry; at
// most maxInflight entries are in flight, so under load records queue up and
// batches grow (one fsync then covers many decisions). Two in flight let
// one batch be written while the one before completes; more only made
// smaller batches, each with its fsyncs and messages on every node
// (BENCHMARKS.md: 4 in flight gave 16% fewer commits/s than 1 or 2 at
// concurrency 64).
const (
	maxBatchRecords = 1024
	// maxBatchStaged bounds the staged messages of one batch (in bytes):
	// a COMMIT with messages past it waits for the next batch, so that an
	// entry stays well within the size of a message between nodes. A
	// single record is never split: one COMMIT can carry up to
	// Config.MaxStagedBytes.
	maxBatchStaged = 1 << 20
	maxInflight    = 2
	proposeTimeout = 5 * time.Second
)

// proposal is one record waiting to be proposed. done, if set, receives the
// State's result for the record (or an error) once applied.
type proposal struct {
	rec  *logv1.LogRecord
	done chan proposalResult
}

type proposalResult struct {
	res table.Result
	err error
}

// proposer batches records into Raft proposals.
type proposer struct {
	node Log
	log  *slog.Logger
	in   chan proposal
	// carry is a proposal taken from in that did not fit in the last
	// batch (run's goroutine only).
	carry *proposal
	sem   chan struct{}
	// ctx is the engine's: run returns once it is cancelled, and
	// proposals in flight are cut short.
	ctx context.Context
	wg  sync.WaitGroup // proposals in flight; run waits for them
}

func newProposer(ctx context.Context, node Log, log *slog.Logger) *proposer {
	return &proposer{
		node: node,
		log:  log,
		in:   make(chan proposal, 4*maxBatchRecords),
		sem:  make(chan struct{}, maxInflight),
		ctx:  ctx,
	}
}

// submit queues rec; if wait, it blocks until the record is applied and
// returns the recorded outcome.
func (p *proposer) submit(ctx context.Context, rec *logv1.LogRecord, wait bool) (table.Result, error) {
	pr := proposal{rec: rec}
	if wait {
		pr.done = make(chan proposalResult, 1)
	}
	select {
	case p.in <- pr:
	case <-ctx.Done():
		return table.Result{}, ctx.Err()
	case <-p.ctx.Done():
		return table.Result{}, ErrStopped
	}
	if !wait {
		return table.Result{}, nil
	}
	select {
	case r := <-pr.done:
		return r.res, r.err
	case <-ctx.Done():
		return table.Result{}, ctx.Err()
	}
}

// run collects queued records into batches until stop is closed; it
// returns once the proposals in flight have finished.
func (p *proposer) run() {
	defer p.wg.Wait()
	for {
		var first proposal
		if p.carry != nil {
			first, p.carry = *p.carry, nil
		} else {
			select {
			case first = <-p.in:
			case <-p.ctx.Done():
				return
			}
		}
		select {
		case p.sem <- struct{}{}:
		case <-p.ctx.Done():
			return
		}
		batch := []proposal{first}
		staged := stagedBytes(first.rec)
	drain:
		for len(batch) < maxBatchRecords {
			select {
			case pr := <-p.in:
				if n := stagedBytes(pr.rec); n > 0 {
					if staged+n > maxBatchStaged {
						p.carry = &pr
						break drain
					}
					staged += n
				}
				batch = append(batch, pr)
			default:
				break drain
			}
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer func() { <-p.sem }()
			p.propose(batch)
		}()
	}
}

// stagedBytes is the size of the staged messages rec carries; 0 (after a
// nil check) for every record without any.
func stagedBytes(rec *logv1.LogRecord) int {
	msgs := rec.GetDecision().GetMessages()
	if msgs == nil {
		return 0
	}
	return stagedSize(msgs)
}

// batchTxids lists the transactions that batch's records name, for a log
// line about all of them.
func batchTxids(batch []proposal) []string {
	var ids []string
	for _, pr := range batch {
		if id := pr.rec.GetDecision().GetTxid(); id != "" {
			ids = append(ids, id)
		}
		ids = append(ids, pr.rec.GetDone().GetTxids()...)
	}
	return ids
}

func (p *proposer) propose(batch []proposal) {
	b := &logv1.LogBatch{Records: make([]*logv1.LogRecord, len(batch))}
	for i, pr := range batch {
		b.Records[i] = pr.rec
	}
	data, err := proto.Marshal(b)
	var results []table.Result
	if err == nil {
		ctx, cancel := context.WithTimeout(p.ctx, proposeTimeout)
		var v any
		v, err = p.node.Propose(ctx, data)
		cancel()
		results, _ = v.([]table.Result)
		if err == nil && len(results) != len(batch) {
			err = errors.New("engine: applied batch returned no results")
		}
	}
	if err != nil && !errors.Is(err, ErrNotLeader) {
		p.log.Warn("proposal failed", "records", len(batch), "txid", batchTxids(batch), "err", err)
	}
	for i, pr := range batch {
		if pr.done == nil {
			continue
		}
		if err != nil {
			pr.done <- proposalResult{err: err}
		} else {
			pr.done <- proposalResult{res: results[i]}
		}
	}
}
