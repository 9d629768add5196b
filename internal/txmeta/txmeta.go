// Package txmeta carries a Verdict transaction across gRPC calls in metadata:
// its id, the coordinator endpoints, its deadline, and the leader term it
// is stamped with when its initiator began it itself. The client SDK writes
// it; the participant SDK reads it.
package txmeta

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/verdict-tx/verdict/internal/txid"
)

// Metadata keys.
const (
	KeyTxID         = "verdict-txid"
	KeyCoordinators = "verdict-coordinators"
	KeyDeadline     = "verdict-deadline-ms"
	// KeyTerm is the leader term of a transaction its initiator began
	// itself (the stamp); absent for one begun by Begin.
	KeyTerm = "verdict-term"
	// KeyParticipant is a response header by which a participant tells the
	// initiator that it enlisted: "name=address".
	KeyParticipant = "verdict-participant"
)

// Tx is the transaction as carried between services.
type Tx struct {
	ID           string
	Coordinators []string
	Deadline     time.Time
	// Term is the leader term the initiator stamped the transaction with,
	// if it began it itself; 0 if Begin registered it.
	Term uint64
}

// Append adds tx to outgoing metadata md.
func (tx Tx) Append(md metadata.MD) {
	md.Set(KeyTxID, tx.ID)
	md.Set(KeyCoordinators, strings.Join(tx.Coordinators, ","))
	md.Set(KeyDeadline, strconv.FormatInt(tx.Deadline.UnixMilli(), 10))
	if tx.Term != 0 {
		md.Set(KeyTerm, strconv.FormatUint(tx.Term, 10))
	}
}

// FromMD reads a transaction from incoming metadata. ok is false when md
// carries no transaction; err is set when it carries a malformed one.
func FromMD(md metadata.MD) (tx Tx, ok bool, err error) {
	ids := md.Get(KeyTxID)
	if len(ids) == 0 {
		return Tx{}, false, nil
	}
	if err := txid.Validate(ids[0]); err != nil {
		return Tx{}, true, err
	}
	tx.ID = ids[0]
	if v := md.Get(KeyCoordinators); len(v) > 0 && v[0] != "" {
		tx.Coordinators = strings.Split(v[0], ",")
	}
	if len(tx.Coordinators) == 0 {
		return Tx{}, true, fmt.Errorf("verdict: transaction %s carries no coordinator endpoints", tx.ID)
	}
	if v := md.Get(KeyDeadline); len(v) > 0 {
		ms, err := strconv.ParseInt(v[0], 10, 64)
		if err != nil {
			return Tx{}, true, fmt.Errorf("verdict: transaction %s: malformed deadline %q", tx.ID, v[0])
		}
		tx.Deadline = time.UnixMilli(ms)
	}
	if v := md.Get(KeyTerm); len(v) > 0 {
		term, err := strconv.ParseUint(v[0], 10, 64)
		if err != nil || tx.Deadline.IsZero() {
			return Tx{}, true, fmt.Errorf("verdict: transaction %s: malformed stamp (term %q, deadline %v)", tx.ID, v[0], tx.Deadline)
		}
		tx.Term = term
	}
	return tx, true, nil
}
