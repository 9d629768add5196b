package engine

import (
	"context"

	"google.golang.org/protobuf/proto"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// StageMessages adds messages to an ACTIVE transaction at the leader. They
// ride with its COMMIT record and are published in phase 2 if and only if
// it commits (see publishStaged). Refused: without NATS (FailedPrecondition),
// once the transaction is preparing or decided, or past its deadline
// (FailedPrecondition), and beyond Config.MaxStagedBytes for the whole
// transaction (ResourceExhausted, nothing of the call is staged). A
// transaction its initiator began itself is registered by the call's stamp
// if it is the first this leader hears of it.
func (c *Engine) StageMessages(ctx context.Context, req *verdictv1.StageMessagesRequest) (*verdictv1.StageMessagesResponse, error) {
	term, ok := c.leaderTerm()
	if !ok {
		return nil, errNotLeader()
	}
	if c.pub == nil {
		return nil, errMessagesOff(req.GetTxid())
	}
	t, err := c.activeOrStamped(req.GetTxid(), req.GetStamp(), term)
	if err != nil {
		return nil, err
	}
	n, err := c.active.stage(t, req.GetMessages(), stagedSize(req.GetMessages()), c.txLimits())
	if err != nil {
		return nil, err
	}
	return &verdictv1.StageMessagesResponse{Staged: uint32(n)}, nil
}

// checkStagedSize refuses adding size bytes of messages to a transaction
// holding have bytes of them already, beyond max.
func checkStagedSize(id string, have, size, max int) error {
	if have+size > max {
		return errorf(ErrLimit,
			"verdict: transaction %s: staged messages would take %d bytes, more than the limit of %d bytes per transaction (coordinator flag --max-staged-bytes)",
			id, have+size, max)
	}
	return nil
}

func errMessagesOff(id string) error {
	return errorf(ErrNoNATS,
		"verdict: transaction %s: transactional messages are off: the coordinator has no NATS configured (start it with --nats-url)", id)
}

// stagedSize is the encoded size of msgs, as they travel in the COMMIT
// record.
func stagedSize(msgs []*verdictv1.StagedMessage) int {
	n := 0
	for _, m := range msgs {
		n += proto.Size(m) + 4 // the field's tag and length
	}
	return n
}
