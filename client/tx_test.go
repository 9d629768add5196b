package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

func outcome(o verdictv1.Outcome, reason string) (*verdictv1.CommitResponse, error) {
	return &verdictv1.CommitResponse{Outcome: o, Reason: reason}, nil
}

func TestCommitOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		commit    func(n int, req *verdictv1.CommitRequest) (*verdictv1.CommitResponse, error)
		ctxTime   time.Duration
		wantIs    error // nil: Commit returns nil
		wantCalls int
	}{
		{
			name: "committed",
			commit: func(int, *verdictv1.CommitRequest) (*verdictv1.CommitResponse, error) {
				return outcome(verdictv1.Outcome_OUTCOME_COMMITTED, "")
			},
			wantCalls: 1,
		},
		{
			name: "aborted",
			commit: func(int, *verdictv1.CommitRequest) (*verdictv1.CommitResponse, error) {
				return outcome(verdictv1.Outcome_OUTCOME_ABORTED, "vote no")
			},
			wantIs:    ErrAborted,
			wantCalls: 1,
		},
		{
			name: "retried until committed",
			commit: func(n int, _ *verdictv1.CommitRequest) (*verdictv1.CommitResponse, error) {
				switch n {
				case 1:
					return nil, status.Error(codes.Unavailable, "leader lost")
				case 2:
					return nil, status.Error(codes.DeadlineExceeded, "raft timeout")
				case 3:
					return nil, status.Error(codes.Internal, "propose failed")
				case 4:
					return outcome(verdictv1.Outcome_OUTCOME_PENDING, "impossible")
				}
				return outcome(verdictv1.Outcome_OUTCOME_COMMITTED, "")
			},
			wantCalls: 5,
		},
		{
			name: "retried until aborted",
			commit: func(n int, _ *verdictv1.CommitRequest) (*verdictv1.CommitResponse, error) {
				if n == 1 {
					return nil, status.Error(codes.Unavailable, "leader lost")
				}
				return outcome(verdictv1.Outcome_OUTCOME_ABORTED, "unknown transaction")
			},
			wantIs:    ErrAborted,
			wantCalls: 2,
		},
		{
			name: "never answers: ambiguous",
			commit: func(int, *verdictv1.CommitRequest) (*verdictv1.CommitResponse, error) {
				return nil, status.Error(codes.Unavailable, "no leader")
			},
			ctxTime: 300 * time.Millisecond,
			wantIs:  ErrAmbiguous,
		},
		{
			name: "expired: ambiguous",
			commit: func(int, *verdictv1.CommitRequest) (*verdictv1.CommitResponse, error) {
				return outcome(verdictv1.Outcome_OUTCOME_EXPIRED, "")
			},
			wantIs:    ErrAmbiguous,
			wantCalls: 1,
		},
		{
			name: "unknown to the coordinator: ambiguous at once",
			commit: func(int, *verdictv1.CommitRequest) (*verdictv1.CommitResponse, error) {
				return outcome(verdictv1.Outcome_OUTCOME_UNKNOWN, "not known at this leader; a previous one may have committed it in one phase")
			},
			ctxTime:   2 * time.Second,
			wantIs:    ErrAmbiguous,
			wantCalls: 1,
		},
		{
			name: "rejected after a lost attempt: ambiguous",
			commit: func(n int, _ *verdictv1.CommitRequest) (*verdictv1.CommitResponse, error) {
				if n == 1 {
					return nil, status.Error(codes.Unavailable, "connection lost")
				}
				return nil, status.Error(codes.FailedPrecondition, "rejected")
			},
			wantIs:    ErrAmbiguous,
			wantCalls: 2,
		},
		{
			name: "rejected: plain error",
			commit: func(int, *verdictv1.CommitRequest) (*verdictv1.CommitResponse, error) {
				return nil, status.Error(codes.InvalidArgument, "bad participant name")
			},
			wantCalls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, stub := newStubClient(t)
			stub.commit = tt.commit
			ctx := testContext(t)
			tx, err := c.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cctx := ctx
			if tt.ctxTime > 0 {
				var cancel context.CancelFunc
				cctx, cancel = context.WithTimeout(ctx, tt.ctxTime)
				defer cancel()
			}
			err = tx.Commit(cctx)
			switch {
			case tt.name == "rejected: plain error":
				if err == nil || errors.Is(err, ErrAborted) || errors.Is(err, ErrAmbiguous) || status.Code(errors.Unwrap(err)) != codes.InvalidArgument {
					t.Errorf("err = %v, want a plain InvalidArgument error", err)
				}
			case tt.wantIs == nil:
				if err != nil {
					t.Errorf("err = %v, want nil", err)
				}
			case !errors.Is(err, tt.wantIs):
				t.Errorf("err = %v, want one matching %v", err, tt.wantIs)
			}
			if tt.wantIs == ErrAmbiguous && errors.Is(err, ErrAborted) {
				t.Errorf("ambiguous error %v matches ErrAborted", err)
			}
			if n, _ := stub.counts(); tt.wantCalls > 0 && n != tt.wantCalls {
				t.Errorf("commit calls = %d, want %d", n, tt.wantCalls)
			}
		})
	}
}

// Every Commit attempt after the first is marked as a retry, including those
// that the connection makes on its own after Unavailable: any earlier attempt
// may have reached a leader that committed the transaction.
func TestCommitMarksRetries(t *testing.T) {
	c, stub := newStubClient(t)
	stub.commit = func(n int, _ *verdictv1.CommitRequest) (*verdictv1.CommitResponse, error) {
		switch n {
		case 1, 2, 3:
			return nil, status.Error(codes.Unavailable, "leader lost")
		case 4:
			return nil, status.Error(codes.DeadlineExceeded, "raft timeout")
		}
		return outcome(verdictv1.Outcome_OUTCOME_COMMITTED, "")
	}
	ctx := testContext(t)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	stub.mu.Lock()
	defer stub.mu.Unlock()
	if len(stub.commits) != 5 {
		t.Fatalf("commit attempts = %d, want 5", len(stub.commits))
	}
	for i, req := range stub.commits {
		if req.GetRetry() != (i > 0) {
			t.Errorf("attempt %d: retry = %v, want %v", i+1, req.GetRetry(), i > 0)
		}
	}
}

func TestErrorTypes(t *testing.T) {
	var err error = &AbortedError{TxID: "t1", Reason: "participant voted no"}
	var ae *AbortedError
	if !errors.Is(err, ErrAborted) || errors.Is(err, ErrAmbiguous) || !errors.As(err, &ae) || ae.Reason != "participant voted no" {
		t.Errorf("AbortedError: %v", err)
	}
	cause := status.Error(codes.Unavailable, "down")
	err = &AmbiguousError{TxID: "t1", Err: cause}
	var amb *AmbiguousError
	if !errors.Is(err, ErrAmbiguous) || errors.Is(err, ErrAborted) || !errors.As(err, &amb) || !errors.Is(err, cause) {
		t.Errorf("AmbiguousError: %v", err)
	}
	if status.Code(errors.Unwrap(err)) != codes.Unavailable {
		t.Errorf("Unwrap = %v", errors.Unwrap(err))
	}
}

func TestTxDone(t *testing.T) {
	c, stub := newStubClient(t)
	ctx := testContext(t)

	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); !errors.Is(err, ErrTxDone) {
		t.Errorf("second Commit: %v, want ErrTxDone", err)
	}
	if err := tx.Abort(ctx, "late"); !errors.Is(err, ErrTxDone) {
		t.Errorf("Abort after Commit: %v, want ErrTxDone", err)
	}

	tx, err = c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Abort(ctx, "changed my mind"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Abort(ctx, "again"); !errors.Is(err, ErrTxDone) {
		t.Errorf("second Abort: %v, want ErrTxDone", err)
	}
	if err := tx.Commit(ctx); !errors.Is(err, ErrTxDone) {
		t.Errorf("Commit after Abort: %v, want ErrTxDone", err)
	}
	if commits, aborts := stub.counts(); commits != 1 || aborts != 1 {
		t.Errorf("coordinator saw %d commits, %d aborts; want 1, 1", commits, aborts)
	}

	// A Commit with a context already done sends nothing and leaves the
	// transaction open.
	tx, err = c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := tx.Commit(done); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit(done ctx): %v, want context.Canceled", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Errorf("Commit after a refused one: %v", err)
	}
}

func TestConcurrentCommitAbort(t *testing.T) {
	c, _ := newStubClient(t)
	ctx := testContext(t)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() { errs <- tx.Commit(ctx) }()
	go func() { errs <- tx.Abort(ctx, "race") }()
	a, b := <-errs, <-errs
	if errors.Is(a, ErrTxDone) == errors.Is(b, ErrTxDone) {
		t.Errorf("exactly one of Commit/Abort must win: %v, %v", a, b)
	}
}

func TestRun(t *testing.T) {
	c, stub := newStubClient(t)
	ctx := testContext(t)

	var seen *Tx
	err := c.Run(ctx, func(ctx context.Context) error {
		seen, _ = FromContext(ctx)
		return nil
	})
	if err != nil || seen == nil {
		t.Fatalf("Run: err=%v tx=%v", err, seen)
	}

	// fn failed and the abort is confirmed: ErrAborted, with fn's error
	// reachable.
	boom := errors.New("boom")
	err = c.Run(ctx, func(context.Context) error { return boom })
	var aborted *AbortedError
	if !errors.Is(err, ErrAborted) || !errors.Is(err, boom) || errors.Is(err, ErrAmbiguous) || !errors.As(err, &aborted) || aborted.TxID == "" {
		t.Errorf("Run = %v, want ErrAborted wrapping fn's error", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic not propagated")
			}
		}()
		_ = c.Run(ctx, func(context.Context) error { panic("oops") })
	}()

	commits, aborts := stub.counts()
	if commits != 1 || aborts != 2 {
		t.Errorf("commits=%d aborts=%d, want 1, 2", commits, aborts)
	}
	stub.mu.Lock()
	defer stub.mu.Unlock()
	if stub.aborts[0].GetReason() != "boom" {
		t.Errorf("abort reason = %q", stub.aborts[0].GetReason())
	}
}

type fnError struct{ code int }

func (e *fnError) Error() string { return "fn failed" }

// When the abort after fn failed cannot be confirmed, Run's error matches
// ErrAmbiguous, and still leads to fn's error.
func TestRunAbortUnconfirmed(t *testing.T) {
	c, stub := newStubClient(t)
	stub.abort = func(int) error { return status.Error(codes.FailedPrecondition, "already committed") }
	err := c.Run(testContext(t), func(context.Context) error { return &fnError{code: 7} })
	var fe *fnError
	if !errors.Is(err, ErrAmbiguous) || errors.Is(err, ErrAborted) || !errors.As(err, &fe) || fe.code != 7 {
		t.Errorf("Run = %v, want ErrAmbiguous wrapping fn's error", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	if _, err := Dial([]string{"127.0.0.1:1"}, WithDefaultTimeout(0)); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("Dial with zero timeout: %v", err)
	}
	if _, err := Dial([]string{"127.0.0.1:1"}, WithTLS(nil)); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("Dial with a nil TLS config: %v", err)
	}
	c, _ := newStubClient(t)
	if _, err := c.Begin(testContext(t), WithTimeout(-time.Second)); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("Begin with negative timeout: %v", err)
	}
}

func TestCommitAfterDeadlineAsks(t *testing.T) {
	c, stub := newStubClient(t)
	stub.commit = func(int, *verdictv1.CommitRequest) (*verdictv1.CommitResponse, error) {
		return outcome(verdictv1.Outcome_OUTCOME_ABORTED, "deadline passed")
	}
	tx := newTx(c, "0198a8f0-0000-7000-8000-000000000000", []string{"c:1"}, time.Now().Add(-time.Hour))
	if err := tx.Commit(testContext(t)); !errors.Is(err, ErrAborted) {
		t.Errorf("late Commit: %v, want ErrAborted", err)
	}
}
