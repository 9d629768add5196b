package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrPreparedDisabled is returned by New when the server's
// max_prepared_transactions is 0: PREPARE TRANSACTION is disabled.
var ErrPreparedDisabled = errors.New("verdict/postgres: max_prepared_transactions is 0: PREPARE TRANSACTION is disabled on this server; " +
	"set max_prepared_transactions above 0 (at least the number of transactions that may be prepared at once, e.g. max_connections) in postgresql.conf and restart PostgreSQL")

// checkMaxPrepared checks the value of the max_prepared_transactions
// setting, as SHOW gives it.
func checkMaxPrepared(setting string) error {
	n, err := strconv.Atoi(setting)
	if err != nil {
		return fmt.Errorf("verdict/postgres: unreadable max_prepared_transactions %q: %w", setting, err)
	}
	if n <= 0 {
		return ErrPreparedDisabled
	}
	return nil
}

// checkServer fails fast when the server cannot prepare transactions.
func (r *Resource) checkServer(ctx context.Context) error {
	return CheckPrepared(ctx, r.pool)
}

// CheckPrepared fails fast, with ErrPreparedDisabled, when the server
// behind pool cannot prepare transactions (max_prepared_transactions is 0).
func CheckPrepared(ctx context.Context, pool *pgxpool.Pool) error {
	var setting string
	if err := pool.QueryRow(ctx, "SHOW max_prepared_transactions").Scan(&setting); err != nil {
		return fmt.Errorf("verdict/postgres: read max_prepared_transactions: %w", err)
	}
	return checkMaxPrepared(setting)
}
