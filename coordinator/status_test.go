package coordinator

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/coordinator/engine"
	"github.com/verdict-tx/verdict/internal/abortinfo"
)

// TestToStatus checks the edge's table: every engine error keeps its
// message and gets its code; statuses pass through; context errors keep
// their code; a refused Commit carries the aborted mark.
func TestToStatus(t *testing.T) {
	for _, m := range codeOf {
		err := fmt.Errorf("verdict: transaction tx1: why (%w)", m.err)
		st := status.Convert(toStatus(err))
		if st.Code() != m.code || st.Message() != err.Error() {
			t.Errorf("toStatus(%v) = %v %q, want %v", m.err, st.Code(), st.Message(), m.code)
		}
	}
	if st := status.Convert(toStatus(engine.ErrNotLeader)); st.Code() != codes.Unavailable || st.Message() != "verdict: this node is not the leader" {
		t.Errorf("toStatus(ErrNotLeader) = %v %q", st.Code(), st.Message())
	}
	given := status.Error(codes.PermissionDenied, "no")
	if got := toStatus(given); got != given {
		t.Errorf("toStatus(status) = %v, want it unchanged", got)
	}
	wrapped := fmt.Errorf("verdict: not confirmed in time (%w)", context.DeadlineExceeded)
	if st := status.Convert(toStatus(wrapped)); st.Code() != codes.DeadlineExceeded || st.Message() != wrapped.Error() {
		t.Errorf("toStatus(wrapped deadline) = %v %q", st.Code(), st.Message())
	}
	if c := status.Code(toStatus(context.Canceled)); c != codes.Canceled {
		t.Errorf("toStatus(context.Canceled) = %v", c)
	}
	refused := fmt.Errorf("verdict: 3 participant addresses in use (%w); %w", engine.ErrLimit, engine.ErrAborted)
	got := toStatus(refused)
	if st := status.Convert(got); st.Code() != codes.ResourceExhausted || !abortinfo.Marked(got) || st.Message() != refused.Error() {
		t.Errorf("toStatus(refused commit) = %v %q marked=%v", st.Code(), st.Message(), abortinfo.Marked(got))
	}
	if toStatus(nil) != nil {
		t.Error("toStatus(nil) != nil")
	}
}
