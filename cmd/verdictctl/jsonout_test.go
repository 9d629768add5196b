package main

import (
	"bytes"
	"encoding/json"
	"testing"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// -o json gives enums as the words the flags take and 64-bit numbers as
// numbers, and every field, empty ones included.
func TestPlainJSON(t *testing.T) {
	tx := &verdictv1.Transaction{
		Txid:           "01936b2a-0000-7000-8000-000000000001",
		State:          verdictv1.TxState_TX_STATE_COMMITTED,
		DeadlineUnixMs: 1767225600000,
		Participants:   []*verdictv1.ParticipantRef{{Name: "orders", Address: "orders:9000"}},
	}
	var buf bytes.Buffer
	if err := writeProtoJSON(&buf, tx); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["state"] != "committed" {
		t.Errorf("state %v, want committed", got["state"])
	}
	if n, ok := got["deadline_unix_ms"].(float64); !ok || n != 1767225600000 {
		t.Errorf("deadline_unix_ms %#v, want the number", got["deadline_unix_ms"])
	}
	if ps, ok := got["participants"].([]any); !ok || len(ps) != 1 || ps[0].(map[string]any)["name"] != "orders" {
		t.Errorf("participants %#v", got["participants"])
	}
	if v, ok := got["staged_count"]; !ok || v != float64(0) {
		t.Errorf("an empty field: staged_count %#v, want 0", v)
	}
	for word, v := range map[string]verdictv1.Vote{"yes": verdictv1.Vote_VOTE_YES, "read_only": verdictv1.Vote_VOTE_READ_ONLY, "": verdictv1.Vote_VOTE_UNSPECIFIED} {
		if got := enumWord(v.Descriptor(), v.Number()); got != word {
			t.Errorf("%v: %q, want %q", v, got, word)
		}
	}
}
