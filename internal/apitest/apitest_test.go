package apitest

import (
	"go/parser"
	"go/token"
	"slices"
	"testing"
)

// The exported API's uses of internal and protocol types are found, in
// every kind of declaration; unexported declarations and bodies are not
// the API.
func TestInternalUses(t *testing.T) {
	const src = `package p

import (
	"context"

	"github.com/verdict-tx/verdict/internal/txmeta"
	pb "github.com/verdict-tx/verdict/proto/verdict/v1"
)

type Option func(*pb.StagedMessage) error
type Alias = pb.Outcome
type S struct {
	Refs   []*pb.ParticipantRef
	hidden pb.Outcome
	OK     string
}
type I interface{ Client() pb.CoordinatorClient }
type T struct{}

var V txmeta.Tx

func F(ctx context.Context, ps ...*pb.ParticipantRef) error { var x pb.Outcome; _ = x; return nil }
func (T) M() txmeta.Tx { return txmeta.Tx{} }
func (t *T) Fine(s string) string { return s }

type opts struct{ m *pb.StagedMessage }
func f(pb.Outcome) {}
func (opts) M(pb.Outcome) {}
`
	f, err := parser.ParseFile(token.NewFileSet(), "p.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range internalUses(f) {
		got = append(got, u.decl+" "+u.typ)
	}
	want := []string{
		"Option pb.StagedMessage",
		"Alias pb.Outcome",
		"S.Refs pb.ParticipantRef",
		"I.Client pb.CoordinatorClient",
		"V txmeta.Tx",
		"F pb.ParticipantRef",
		"M txmeta.Tx",
	}
	if !slices.Equal(got, want) {
		t.Errorf("internalUses =\n%q\nwant\n%q", got, want)
	}
}
