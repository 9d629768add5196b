package natsmsg

import (
	"context"
	"errors"
	"testing"
)

func TestStageRefusesWithoutTransaction(t *testing.T) {
	if err := Stage(context.Background(), "orders.created", []byte("x")); !errors.Is(err, ErrNoTransaction) {
		t.Fatalf("Stage without a transaction = %v, want ErrNoTransaction", err)
	}
}

func TestStageValidates(t *testing.T) {
	ctx := context.Background()
	for _, subj := range []string{"", "orders.*", "orders.>", "orders..created", "orders created", ".orders"} {
		if err := Stage(ctx, subj, nil); err == nil || errors.Is(err, ErrNoTransaction) {
			t.Errorf("Stage on subject %q = %v, want a subject error", subj, err)
		}
	}
	if err := Stage(ctx, "orders.created", nil, WithHeader("nats-msg-id", "mine")); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("Stage with Nats-Msg-Id = %v, want ErrInvalidOption", err)
	}
	if err := Stage(ctx, "orders.created", nil, WithHeader("Bad: name", "v")); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("Stage with a bad header name = %v, want ErrInvalidOption", err)
	}
}
