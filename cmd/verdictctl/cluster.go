package main

import (
	"flag"
	"fmt"
	"sync"

	"google.golang.org/grpc"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// nodeStatus is one endpoint's answer to Admin.Status, or why it gave none.
type nodeStatus struct {
	Endpoint    string `json:"endpoint"`
	ID          uint64 `json:"id,omitempty"`
	Leader      uint64 `json:"leader,omitempty"`
	Term        uint64 `json:"term,omitempty"`
	Commit      uint64 `json:"commit_index,omitempty"`
	Applied     uint64 `json:"applied_index,omitempty"`
	LeaderReady bool   `json:"leader_ready,omitempty"`
	// Transactions in the node's table, and those without DONE.
	Transactions uint64 `json:"transactions"`
	Undone       uint64 `json:"undone_transactions"`
	Error        string `json:"error,omitempty"`
}

type member struct {
	ID      uint64 `json:"id"`
	Address string `json:"address"`
	Learner bool   `json:"learner"`
}

type clusterStatus struct {
	Leader  uint64       `json:"leader"`
	Members []member     `json:"members"`
	Nodes   []nodeStatus `json:"nodes"`
	// Diverged are the members whose state differed from the others' at
	// a checkpoint: they follow but do not lead.
	Diverged []diverged `json:"diverged"`
}

type diverged struct {
	ID         uint64 `json:"id"`
	SinceIndex uint64 `json:"since_index"`
}

func setupClusterStatus(fs *flag.FlagSet) func(e *env, args []string) int {
	return func(e *env, args []string) int {
		if len(args) > 0 {
			fmt.Fprintf(e.stderr, "verdictctl cluster status: unexpected argument %q\n", args[0])
			return exitUsage
		}
		eps, _ := e.endpointList()
		st := e.clusterStatus(eps)
		answered := 0
		for _, n := range st.Nodes {
			if n.Error == "" {
				answered++
			}
		}
		if e.json() {
			_ = writeJSON(e.stdout, st)
		} else {
			printClusterStatus(e, st)
		}
		if answered == 0 {
			fmt.Fprintln(e.stderr, "verdictctl cluster status: no endpoint answered")
			return exitFailure
		}
		return exitOK
	}
}

// clusterStatus asks every endpoint (in parallel) for its status.
func (e *env) clusterStatus(eps []string) clusterStatus {
	nodes := make([]nodeStatus, len(eps))
	resps := make([]*verdictv1.StatusResponse, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i].Endpoint = ep
			resp, err := e.status(ep)
			if err != nil {
				nodes[i].Error = describe(err)
				return
			}
			resps[i] = resp
			nodes[i].ID, nodes[i].Leader, nodes[i].Term = resp.GetId(), resp.GetLeader(), resp.GetTerm()
			nodes[i].Commit, nodes[i].Applied = resp.GetCommitIndex(), resp.GetAppliedIndex()
			nodes[i].LeaderReady = resp.GetLeaderReady()
			nodes[i].Transactions, nodes[i].Undone = resp.GetTransactions(), resp.GetUndoneTransactions()
		}()
	}
	wg.Wait()
	st := clusterStatus{Members: []member{}, Nodes: nodes, Diverged: []diverged{}}
	var bestTerm uint64
	for _, r := range resps {
		if r == nil || r.GetTerm() < bestTerm {
			continue
		}
		// The newest term's view wins: its leader and its membership.
		bestTerm = r.GetTerm()
		st.Leader = r.GetLeader()
		st.Members = st.Members[:0]
		for _, m := range r.GetMembers() {
			st.Members = append(st.Members, member{ID: m.GetId(), Address: m.GetAddress(), Learner: m.GetLearner()})
		}
		st.Diverged = st.Diverged[:0]
		for _, d := range r.GetDiverged() {
			st.Diverged = append(st.Diverged, diverged{ID: d.GetId(), SinceIndex: d.GetSinceIndex()})
		}
	}
	return st
}

func (e *env) status(ep string) (*verdictv1.StatusResponse, error) {
	conn, err := grpc.NewClient(ep, e.dialOptions()...)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := e.callContext()
	defer cancel()
	return verdictv1.NewAdminClient(conn).Status(ctx, &verdictv1.StatusRequest{})
}

func printClusterStatus(e *env, st clusterStatus) {
	w := newTable(e.stdout)
	fmt.Fprintln(w, "MEMBER\tADDRESS\tROLE")
	for _, m := range st.Members {
		role := "voter"
		if m.Learner {
			role = "learner"
		}
		if m.ID == st.Leader {
			role += ", leader"
		}
		for _, d := range st.Diverged {
			if d.ID == m.ID {
				role += fmt.Sprintf(", DIVERGED since checkpoint %d (does not lead; replace it, or verdictctl cluster clear-divergence %d if a false alarm)", d.SinceIndex, d.ID)
			}
		}
		fmt.Fprintf(w, "%d\t%s\t%s\n", m.ID, m.Address, role)
	}
	w.Flush()
	fmt.Fprintln(e.stdout)
	w = newTable(e.stdout)
	fmt.Fprintln(w, "ENDPOINT\tNODE\tLEADER\tTERM\tCOMMIT\tAPPLIED\tTXS\tUNDONE\tNOTE")
	for _, n := range st.Nodes {
		if n.Error != "" {
			fmt.Fprintf(w, "%s\t-\t-\t-\t-\t-\t-\t-\tunreachable: %s\n", n.Endpoint, n.Error)
			continue
		}
		note := ""
		if n.LeaderReady {
			note = "leader (ready)"
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", n.Endpoint, n.ID, n.Leader, n.Term, n.Commit, n.Applied, n.Transactions, n.Undone, note)
	}
	w.Flush()
}
