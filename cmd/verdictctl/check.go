package main

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// checkNode is one member's part of a state check.
type checkNode struct {
	ID      uint64 `json:"id"`
	Address string `json:"address"`
	SHA256  string `json:"sha256,omitempty"`
	// Result: agrees, differs, not_applied (it has not applied the
	// checkpoint within --wait, or restored a snapshot past it) or
	// no_answer.
	Result string `json:"result"`
	// Since is, for one that differs, the first checkpoint it kept at
	// which it differs from the others.
	Since uint64 `json:"differs_since_index,omitempty"`
	Error string `json:"error,omitempty"`
	// kept are the hashes the member kept, for Since.
	kept []*verdictv1.StateHash
}

type checkReport struct {
	Index      uint64      `json:"index"`
	Consistent bool        `json:"consistent"`
	Nodes      []checkNode `json:"nodes"`
}

// setupClusterCheck is "verdictctl cluster check": a checkpoint appended
// to the log, at which every member hashes its state; the hashes are
// compared, and the members that differ from the others are named.
func setupClusterCheck(fs *flag.FlagSet) func(e *env, args []string) int {
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for every member to apply the checkpoint")
	return func(e *env, args []string) int {
		if len(args) > 0 {
			fmt.Fprintf(e.stderr, "verdictctl cluster check: unexpected argument %q\n", args[0])
			return exitUsage
		}
		conn, code := e.dialCluster()
		if conn == nil {
			return code
		}
		defer conn.Close()
		ctx, cancel := e.callContext()
		defer cancel()
		cp, err := conn.Admin().CheckState(ctx, &verdictv1.CheckStateRequest{})
		if err != nil {
			return e.fail("cluster check", err)
		}
		ms, err := conn.Admin().Members(ctx, &verdictv1.MembersRequest{})
		if err != nil {
			return e.fail("cluster check", err)
		}
		rep := checkReport{Index: cp.GetIndex(), Nodes: e.collectHashes(ms.GetMembers(), cp.GetIndex(), *wait)}
		rep.Consistent = judge(&rep)
		if e.json() {
			_ = writeJSON(e.stdout, rep)
		} else {
			printCheck(e, rep)
		}
		if !rep.Consistent {
			return exitFailure
		}
		return exitOK
	}
}

// collectHashes asks every member for its hashes until each has applied
// the checkpoint at index, for at most wait.
func (e *env) collectHashes(members []*verdictv1.Member, index uint64, wait time.Duration) []checkNode {
	nodes := make([]checkNode, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		nodes[i] = checkNode{ID: m.GetId(), Address: m.GetAddress()}
		wg.Go(func() { nodes[i].kept = e.awaitHash(&nodes[i], index, wait) })
	}
	wg.Wait()
	return nodes
}

// awaitHash polls node n for its hash at index.
func (e *env) awaitHash(n *checkNode, index uint64, wait time.Duration) []*verdictv1.StateHash {
	conn, err := grpc.NewClient(n.Address, e.dialOptions()...)
	if err != nil {
		n.Result, n.Error = "no_answer", err.Error()
		return nil
	}
	defer conn.Close()
	deadline := time.Now().Add(wait)
	for {
		ctx, cancel := e.callContext()
		resp, err := verdictv1.NewAdminClient(conn).StateHashes(ctx, &verdictv1.StateHashesRequest{})
		cancel()
		switch {
		case err != nil:
			n.Result, n.Error = "no_answer", describe(err)
		default:
			n.Error = ""
			for _, h := range resp.GetHashes() {
				if h.GetIndex() == index {
					n.SHA256, n.Result = hex.EncodeToString(h.GetSha256()), ""
					return resp.GetHashes()
				}
			}
			n.Result = "not_applied"
			if resp.GetAppliedIndex() >= index {
				n.Error = "applied past the checkpoint without hashing it (a snapshot restored past it)"
				return resp.GetHashes()
			}
		}
		if time.Now().After(deadline) {
			return nil
		}
		select {
		case <-e.ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// judge marks each node as agreeing with the most common hash or not,
// and reports whether all that answered agree.
func judge(rep *checkReport) bool {
	count := map[string]int{}
	for _, n := range rep.Nodes {
		if n.SHA256 != "" {
			count[n.SHA256]++
		}
	}
	var major string
	for h, c := range count {
		if c > count[major] || (c == count[major] && h < major) {
			major = h
		}
	}
	var reference []*verdictv1.StateHash
	for _, n := range rep.Nodes {
		if n.SHA256 == major && major != "" {
			reference = n.kept
			break
		}
	}
	ok := true
	for i := range rep.Nodes {
		n := &rep.Nodes[i]
		switch {
		case n.SHA256 == "":
			ok = false
		case n.SHA256 == major:
			n.Result = "agrees"
		default:
			n.Result, ok = "differs", false
			n.Since = firstDifference(reference, n.kept)
		}
	}
	return ok && len(count) == 1
}

// firstDifference is the first checkpoint both lists kept at which they
// differ (0 if none is found).
func firstDifference(ref, other []*verdictv1.StateHash) uint64 {
	for _, h := range other {
		i := slices.IndexFunc(ref, func(r *verdictv1.StateHash) bool { return r.GetIndex() == h.GetIndex() })
		if i >= 0 && !bytes.Equal(ref[i].GetSha256(), h.GetSha256()) {
			return h.GetIndex()
		}
	}
	return 0
}

func printCheck(e *env, rep checkReport) {
	t := newTable(e.stdout)
	fmt.Fprintln(t, "NODE\tADDRESS\tSTATE SHA-256\tRESULT")
	for _, n := range rep.Nodes {
		res := n.Result
		if n.Since != 0 {
			res += fmt.Sprintf(" (since checkpoint %d)", n.Since)
		}
		if n.Error != "" {
			res += ": " + n.Error
		}
		h := n.SHA256
		if len(h) > 16 {
			h = h[:16] + "…"
		}
		fmt.Fprintf(t, "%d\t%s\t%s\t%s\n", n.ID, n.Address, h, res)
	}
	t.Flush()
	if rep.Consistent {
		fmt.Fprintf(e.stdout, "\nconsistent: every member holds the same state at checkpoint %d\n", rep.Index)
		return
	}
	fmt.Fprintf(e.stdout, "\nNOT consistent at checkpoint %d: see the members that differ or did not answer\n", rep.Index)
}
