package coordinator

import (
	"regexp"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/internal/hostport"
	"github.com/verdict-tx/verdict/internal/staged"
	"github.com/verdict-tx/verdict/internal/txid"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// Input limits.
const (
	maxReasonBytes  = 1024
	maxAddressBytes = hostport.MaxLen
)

var participantName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func validateTxid(id string) error {
	if err := txid.Validate(id); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return nil
}

// validateParticipant checks p and rewrites its address in its canonical
// spelling (see internal/hostport): every spelling of one address is then
// one participant address, with one connection, prepare batcher and
// phase-2 sender.
func validateParticipant(p *verdictv1.ParticipantRef) error {
	if p == nil {
		return status.Error(codes.InvalidArgument, "verdict: participant is required")
	}
	if err := validateParticipantName(p.GetName()); err != nil {
		return err
	}
	addr, err := hostport.Canonical(p.GetAddress())
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "verdict: participant %s: %v", p.GetName(), err)
	}
	p.Address = addr
	return nil
}

func validateParticipantName(name string) error {
	if !participantName.MatchString(name) {
		return status.Errorf(codes.InvalidArgument, "verdict: participant name %.80q must be 1-64 characters of [A-Za-z0-9_.-]", name)
	}
	return nil
}

// maxEnlistBatch bounds the transactions one Enlist names.
const maxEnlistBatch = 1024

func validateEnlist(req *verdictv1.EnlistRequest) error {
	if err := validateParticipant(req.GetParticipant()); err != nil {
		return err
	}
	n := len(req.GetTxids())
	if n == 0 {
		return status.Error(codes.InvalidArgument, "verdict: enlist names no transaction")
	}
	if n > maxEnlistBatch {
		return status.Errorf(codes.ResourceExhausted, "verdict: enlist names %d transactions, more than %d", n, maxEnlistBatch)
	}
	for _, id := range req.GetTxids() {
		if err := validateTxid(id); err != nil {
			return err
		}
	}
	if s := len(req.GetStamps()); s != 0 && s != n {
		return status.Errorf(codes.InvalidArgument, "verdict: enlist has %d stamps for %d transactions", s, n)
	}
	for _, st := range req.GetStamps() {
		if err := validateStamp(st); err != nil {
			return err
		}
	}
	if v := len(req.GetVotes()); v != 0 && v != n {
		return status.Errorf(codes.InvalidArgument, "verdict: enlist has %d votes for %d transactions", v, n)
	}
	for _, v := range req.GetVotes() {
		if v != verdictv1.Vote_VOTE_UNSPECIFIED && v != verdictv1.Vote_VOTE_YES {
			return status.Errorf(codes.InvalidArgument, "verdict: an enlistment may carry a YES vote or none, not %v", v)
		}
	}
	return nil
}

// validateStamp checks a transaction's stamp (zero: none).
func validateStamp(st *verdictv1.TxStamp) error {
	if st.GetTerm() != 0 && st.GetDeadlineUnixMs() <= 0 {
		return status.Error(codes.InvalidArgument, "verdict: a stamped transaction needs a deadline")
	}
	return nil
}

func validateList(req *verdictv1.ListTransactionsRequest) error {
	if req.GetOlderThanMs() < 0 {
		return status.Errorf(codes.InvalidArgument, "verdict: older_than_ms must not be negative (got %d)", req.GetOlderThanMs())
	}
	if p := req.GetParticipant(); p != "" {
		if err := validateParticipantName(p); err != nil {
			return err
		}
	}
	if req.GetAfterTxid() != "" {
		return validateTxid(req.GetAfterTxid())
	}
	return nil
}

func validateReason(r string) error {
	if len(r) > maxReasonBytes {
		return status.Errorf(codes.InvalidArgument, "verdict: reason longer than %d bytes", maxReasonBytes)
	}
	return nil
}

func validateCommit(req *verdictv1.CommitRequest, maxParticipants int) error {
	if err := validateTxid(req.GetTxid()); err != nil {
		return err
	}
	if err := validateParticipantList(req.GetParticipants(), maxParticipants); err != nil {
		return err
	}
	if err := validateStamp(req.GetStamp()); err != nil {
		return err
	}
	if len(req.GetMessages()) > 0 {
		return validateMessages(req.GetMessages())
	}
	return nil
}

// validateOutcome checks an Outcome request: its txid and the participants
// the asker names (as many as a Commit may name).
func validateOutcome(req *verdictv1.OutcomeRequest, maxParticipants int) error {
	if err := validateTxid(req.GetTxid()); err != nil {
		return err
	}
	return validateParticipantList(req.GetParticipants(), maxParticipants)
}

// validateParticipantList checks the participants a caller names: at most
// maxParticipants, each valid (its address made canonical), no name with
// two addresses.
func validateParticipantList(parts []*verdictv1.ParticipantRef, maxParticipants int) error {
	if len(parts) > maxParticipants {
		return status.Errorf(codes.ResourceExhausted, "verdict: %d participants exceed the maximum of %d", len(parts), maxParticipants)
	}
	seen := make(map[string]string, len(parts))
	for _, p := range parts {
		if err := validateParticipant(p); err != nil {
			return err
		}
		if addr, ok := seen[p.GetName()]; ok && addr != p.GetAddress() {
			return status.Errorf(codes.InvalidArgument, "verdict: participant %s named twice with different addresses", p.GetName())
		}
		seen[p.GetName()] = p.GetAddress()
	}
	return nil
}

// maxMessagesPerCall bounds the messages of one StageMessages or Commit.
const maxMessagesPerCall = 1024

func validateStageMessages(req *verdictv1.StageMessagesRequest) error {
	if err := validateTxid(req.GetTxid()); err != nil {
		return err
	}
	if len(req.GetMessages()) == 0 {
		return status.Error(codes.InvalidArgument, "verdict: no messages to stage")
	}
	if err := validateStamp(req.GetStamp()); err != nil {
		return err
	}
	return validateMessages(req.GetMessages())
}

func validateMessages(msgs []*verdictv1.StagedMessage) error {
	if len(msgs) > maxMessagesPerCall {
		return status.Errorf(codes.ResourceExhausted, "verdict: %d messages in one call, more than %d", len(msgs), maxMessagesPerCall)
	}
	for i, m := range msgs {
		if err := staged.ValidateSubject(m.GetSubject()); err != nil {
			return status.Errorf(codes.InvalidArgument, "verdict: message %d: %s", i, strings.TrimPrefix(err.Error(), "verdict: "))
		}
		for k := range m.GetHeaders() {
			if err := staged.ValidateHeader(k); err != nil {
				return status.Errorf(codes.InvalidArgument, "verdict: message %d: %s", i, strings.TrimPrefix(err.Error(), "verdict: "))
			}
		}
	}
	return nil
}
