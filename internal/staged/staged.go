// Package staged checks transactional messages (staged in a transaction,
// published to NATS JetStream if it commits) the same way in the client
// SDK, the participant SDK and the coordinator, so that a bad message is
// refused where it is staged rather than at commit; and it carries an
// initiator's transaction in a context (Buffer) so that natsmsg.Stage can
// stage in it without importing the client SDK.
package staged

import (
	"fmt"
	"strings"
)

// MaxSubjectBytes bounds a subject.
const MaxSubjectBytes = 256

// MsgIDHeader is set by the coordinator on every published message
// ("<txid>/<n>"); a staged message must not set it.
const MsgIDHeader = "Nats-Msg-Id"

// ValidateSubject checks that s is a subject a message can be published
// on: 1 to MaxSubjectBytes bytes of dot-separated non-empty tokens, without
// wildcards (* and >) or whitespace.
func ValidateSubject(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("verdict: empty subject")
	case len(s) > MaxSubjectBytes:
		return fmt.Errorf("verdict: subject longer than %d bytes", MaxSubjectBytes)
	case strings.ContainsAny(s, " \t\r\n\f\v"):
		return fmt.Errorf("verdict: subject %.80q contains whitespace", s)
	}
	for _, tok := range strings.Split(s, ".") {
		switch tok {
		case "":
			return fmt.Errorf("verdict: subject %.80q has an empty token", s)
		case "*", ">":
			return fmt.Errorf("verdict: subject %.80q has a wildcard: messages are published on a literal subject", s)
		}
	}
	return nil
}

// ValidateHeader checks a header name of a staged message.
func ValidateHeader(name string) error {
	if name == "" || strings.ContainsAny(name, ": \t\r\n") {
		return fmt.Errorf("verdict: header name %.80q is not a valid header name", name)
	}
	if strings.EqualFold(name, MsgIDHeader) {
		return fmt.Errorf("verdict: header %s is set by the coordinator (<txid>/<n>)", MsgIDHeader)
	}
	return nil
}

// SetHeader sets header name of a message being staged to value, in
// *headers (made on first use), once ValidateHeader accepts name.
func SetHeader(headers *map[string]string, name, value string) error {
	if err := ValidateHeader(name); err != nil {
		return err
	}
	if *headers == nil {
		*headers = map[string]string{}
	}
	(*headers)[name] = value
	return nil
}
