package batch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBatcherCoalescesAndAnswersInOrder(t *testing.T) {
	var calls, maxSize atomic.Int64
	release := make(chan struct{})
	b := &Batcher[int, int]{
		Send: func(ctx context.Context, ins []int) ([]int, error) {
			if calls.Add(1) == 1 {
				<-release // hold the first call so that others queue up
			}
			if n := int64(len(ins)); n > maxSize.Load() {
				maxSize.Store(n)
			}
			out := make([]int, len(ins))
			for i, v := range ins {
				out[i] = v * 10
			}
			return out, nil
		},
		MaxBatch: 100, MaxInflight: 1, Timeout: time.Second, Ctx: context.Background(),
	}
	var wg sync.WaitGroup
	results := make([]int, 50)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := b.Do(context.Background(), i)
			if err != nil {
				t.Error(err)
			}
			results[i] = v
		}()
		if i == 0 {
			// Wait until the first call is in flight.
			for calls.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	// Wait until every other caller has queued behind the held call.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		n := len(b.queue)
		b.mu.Unlock()
		if n == 49 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d callers queued", n)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i, v := range results {
		if v != i*10 {
			t.Errorf("result %d = %d, want %d", i, v, i*10)
		}
	}
	if calls.Load() != 2 || maxSize.Load() != 49 {
		t.Errorf("calls = %d, largest batch = %d; want 2 calls, the second of 49", calls.Load(), maxSize.Load())
	}
}

func TestBatcherErrorsAndContexts(t *testing.T) {
	boom := errors.New("boom")
	b := &Batcher[int, int]{
		Send: func(ctx context.Context, ins []int) ([]int, error) {
			if ins[0] < 0 {
				<-ctx.Done()
				return nil, ctx.Err()
			}
			if ins[0] == 0 {
				return nil, boom
			}
			return nil, nil // wrong number of results
		},
		MaxBatch: 10, MaxInflight: 4, Timeout: time.Second, Ctx: context.Background(),
	}
	if _, err := b.Do(context.Background(), 0); !errors.Is(err, boom) {
		t.Errorf("Do = %v, want boom", err)
	}
	if _, err := b.Do(context.Background(), 1); err == nil {
		t.Error("Do with a short answer succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.Do(ctx, -1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do = %v, want the caller's deadline", err)
	}
}
