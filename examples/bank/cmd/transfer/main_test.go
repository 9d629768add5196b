package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/verdict-tx/verdict/coordinator"
	"github.com/verdict-tx/verdict/examples/bank/bankpb"
	"github.com/verdict-tx/verdict/participant"
)

// TestMain fails the package's tests if a goroutine outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startNode runs a single-node coordinator on 127.0.0.1 and waits until it
// leads.
func startNode(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := coordinator.Start(coordinator.Config{
		ID: 1, Peers: map[uint64]string{1: l.Addr().String()}, DataDir: t.TempDir(), Listener: l, Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := srv.Node().LeaderTerm(); ok {
			return srv.Addr()
		}
		if time.Now().After(deadline) {
			t.Fatal("node never became leader")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// memAccounts is a stand-in account service: a participant whose Add
// stages the change in memory, and refuses account "missing".
type memAccounts struct {
	bankpb.UnimplementedAccountsServer
	res *participant.MemResource
}

func (a *memAccounts) Add(ctx context.Context, req *bankpb.AddRequest) (*bankpb.AddResponse, error) {
	if req.GetAccount() == "missing" {
		return nil, status.Error(codes.NotFound, "no account missing")
	}
	tx, ok := participant.TxFromContext(ctx)
	if !ok {
		return nil, status.Error(codes.FailedPrecondition, "no transaction")
	}
	if err := a.res.Stage(tx.ID, req.GetAccount(), "changed"); err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return &bankpb.AddResponse{}, nil
}

func startAccounts(t *testing.T, name, coord string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	res := participant.NewMemResource()
	part, err := participant.NewServer(participant.Config{
		Name: name, Address: l.Addr().String(), Resource: res, Coordinators: []string{coord}, Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.UnaryInterceptor(part.UnaryServerInterceptor()))
	part.Register(g)
	bankpb.RegisterAccountsServer(g, &memAccounts{res: res})
	part.Start()
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(l) }()
	t.Cleanup(func() {
		g.Stop()
		part.Stop()
		<-done
	})
	return l.Addr().String()
}

// syncBuffer is a bytes.Buffer safe to read while run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--count", "-1"},
		{"--amount", "0"},
		{"--interval", "-1s"},
		{"--timeout", "0s"},
		{"--no-such-flag"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != exitUsage {
			t.Errorf("run %v = %d, want %d (stderr %q)", args, code, exitUsage, errb.String())
		}
	}
}

// A fixed count of transfers exits 0 when all commit, 1 when one did not.
func TestCount(t *testing.T) {
	coord := startNode(t)
	a, b := startAccounts(t, "bank-a", coord), startAccounts(t, "bank-b", coord)
	base := []string{"--coordinators", coord, "--from", a, "--to", b}

	var out, errb bytes.Buffer
	if code := run(context.Background(), append(base, "--count", "2"), &out, &errb); code != exitOK {
		t.Fatalf("2 transfers: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	if got := strings.Count(out.String(), "moved 10"); got != 2 {
		t.Errorf("2 transfers: %d moved, want 2: %q", got, out.String())
	}

	out.Reset()
	if code := run(context.Background(), append(base, "--from-account", "missing"), &out, &errb); code != exitFailed {
		t.Fatalf("refused transfer: exit %d, want %d: %q", code, exitFailed, out.String())
	}
	if !strings.Contains(out.String(), "1: nothing moved") {
		t.Errorf("refused transfer: stdout %q, want it reported", out.String())
	}
}

// --count 0 transfers until interrupted, every --interval, carrying on
// past failed transfers, and exits 0.
func TestLoop(t *testing.T) {
	coord := startNode(t)
	a, b := startAccounts(t, "bank-a", coord), startAccounts(t, "bank-b", coord)
	for _, acct := range []string{"acct-0", "missing"} {
		ctx, cancel := context.WithCancel(context.Background())
		var out, errb syncBuffer
		code := make(chan int, 1)
		go func() {
			code <- run(ctx, []string{"--coordinators", coord, "--from", a, "--to", b,
				"--from-account", acct, "--count", "0", "--interval", "5ms"}, &out, &errb)
		}()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), "3: ") {
			if time.Now().After(deadline) {
				t.Fatalf("%s: fewer than 3 transfers in 20s: %q", acct, out.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if c := <-code; c != exitOK {
			t.Errorf("%s: interrupted loop: exit %d, want %d (stderr %q)", acct, c, exitOK, errb.String())
		}
		want := "moved 10"
		if acct == "missing" {
			want = "nothing moved"
		}
		if got := strings.Count(out.String(), want); got < 3 {
			t.Errorf("%s: %d transfers report %q, want at least 3: %q", acct, got, want, out.String())
		}
	}
}
