package client

import verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"

// Participant is a participant of a transaction: the name it enlisted
// under and the address the coordinator reaches it at.
type Participant struct {
	Name    string
	Address string
}

// participantRefs converts ps to the wire form.
func participantRefs(ps []Participant) []*verdictv1.ParticipantRef {
	if ps == nil {
		return nil
	}
	refs := make([]*verdictv1.ParticipantRef, len(ps))
	for i, p := range ps {
		refs[i] = &verdictv1.ParticipantRef{Name: p.Name, Address: p.Address}
	}
	return refs
}
