package account

import (
	"context"
	"fmt"

	"github.com/verdict-tx/verdict/client"
	"github.com/verdict-tx/verdict/examples/bank/bankpb"
)

// Transfer moves amount from account from at the service src to account
// to at the service dst in one Verdict transaction: both change or
// neither. src and dst must be clients over connections with
// client.UnaryClientInterceptor. An error matching client.ErrAborted means
// nothing moved; client.ErrAmbiguous means the outcome is unknown to this
// caller (it is the same at both services, whichever it is).
func Transfer(ctx context.Context, cl *client.Client, src, dst bankpb.AccountsClient, from, to string, amount int64) error {
	if amount <= 0 {
		return fmt.Errorf("account: transfer of %d: the amount must be positive", amount)
	}
	return cl.Run(ctx, func(ctx context.Context) error {
		if _, err := src.Add(ctx, &bankpb.AddRequest{Account: from, Delta: -amount}); err != nil {
			return fmt.Errorf("withdraw from %s: %w", from, err)
		}
		if _, err := dst.Add(ctx, &bankpb.AddRequest{Account: to, Delta: amount}); err != nil {
			return fmt.Errorf("deposit to %s: %w", to, err)
		}
		return nil
	})
}
