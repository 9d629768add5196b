// Package txid creates and validates Verdict transaction ids: UUIDv7 strings
// in canonical form, whose first 48 bits are the creation time in Unix
// milliseconds.
package txid

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ErrMalformed is returned for a string that is not a canonical UUIDv7.
var ErrMalformed = errors.New("verdict: malformed transaction id")

// New returns a fresh transaction id.
func New() (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("verdict: new transaction id: %w", err)
	}
	return u.String(), nil
}

// NewAt returns a fresh transaction id whose creation time is t (to the
// millisecond) rather than this host's clock: a client that knows how far
// its clock is from the coordinator's makes its ids on the coordinator's
// time.
func NewAt(t time.Time) (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("verdict: new transaction id: %w", err)
	}
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		u[i] = byte(ms >> (8 * (5 - i)))
	}
	return u.String(), nil
}

// Validate reports whether s is a canonical (lower-case, hyphenated) UUIDv7.
func Validate(s string) error {
	if len(s) != 36 {
		return fmt.Errorf("%w: %q", ErrMalformed, truncate(s))
	}
	u, err := uuid.Parse(s)
	if err != nil || u.Version() != 7 || u.String() != s {
		return fmt.Errorf("%w: %q", ErrMalformed, truncate(s))
	}
	return nil
}

// Time returns the creation time carried by a valid transaction id.
func Time(s string) (time.Time, error) {
	if err := Validate(s); err != nil {
		return time.Time{}, err
	}
	u := uuid.MustParse(s)
	sec, nsec := u.Time().UnixTime()
	return time.Unix(sec, nsec), nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
