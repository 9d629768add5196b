package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/verdict-tx/verdict/coordinator"
)

// childEnv, set in the environment, makes TestFatalStorageErrorExits the
// verdict process itself: it runs the node with the WAL sync failing and
// exits as main does.
const childEnv = "VERDICT_TEST_FATAL_CHILD"

// A node whose WAL sync fails exits with status 1 (a supervisor restarts
// it), saying why, instead of serving on as a leader that cannot write.
func TestFatalStorageErrorExits(t *testing.T) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(exitCode(run([]string{"--peers", "1=" + freeAddr(t), "--data-dir", dir, "--log-level", "error"}, failSyncsOnceLeading)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFatalStorageErrorExits$")
	cmd.Env = append(os.Environ(), childEnv+"="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("verdict after a WAL sync failure: %v (stderr: %s), want exit status 1", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "injected fsync failure") {
		t.Errorf("stderr does not name the failure: %s", stderr.String())
	}
}

// failSyncsOnceLeading makes the node's WAL syncs fail, then, once it
// leads, proposes an entry: the write that fails.
func failSyncsOnceLeading(srv *coordinator.Server) {
	node := srv.Node()
	node.FailSyncs(errors.New("injected fsync failure"))
	go func() {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if _, ok := node.LeaderTerm(); ok {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, _ = node.Propose(ctx, []byte("x"))
				return
			}
			select {
			case <-node.Done():
				return // the election's own write failed
			default:
			}
		}
	}()
}
