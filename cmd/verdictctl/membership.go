package main

import (
	"context"
	"flag"
	"fmt"
	"google.golang.org/grpc"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/verdict-tx/verdict/internal/coordconn"
	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// memberPoll is how often "cluster add" looks at the new member's progress.
const memberPoll = 200 * time.Millisecond

func setupClusterAdd(fs *flag.FlagSet) func(e *env, args []string) int {
	wait := fs.Bool("wait", true, "wait (up to --timeout) until the new member is a voter, printing its progress")
	return func(e *env, args []string) int {
		if len(args) != 1 {
			fmt.Fprintln(e.stderr, "verdictctl cluster add: want exactly one ID=HOST:PORT")
			return exitUsage
		}
		id, addr, err := parseMember(args[0])
		if err != nil {
			fmt.Fprintf(e.stderr, "verdictctl cluster add: %v\n", err)
			return exitUsage
		}
		conn, code := e.dialCluster()
		if conn == nil {
			return code
		}
		defer conn.Close()
		ctx, cancel := e.callContext() // bounds the add and the wait
		defer cancel()
		resp, err := conn.Admin().AddMember(ctx, &verdictv1.AddMemberRequest{Id: id, Address: addr})
		if err != nil {
			return e.fail("cluster add", err)
		}
		ms := resp.GetMembers()
		if !e.json() {
			fmt.Fprintf(e.stdout, "Node %d (%s) added as a learner. Start it, if it is not running yet:\n  verdict --id %d --join --peers <the members>,%d=%s --data-dir <an empty dir>\n", id, addr, id, id, addr)
		}
		if *wait {
			if ms, err = e.waitVoter(ctx, conn, id); err != nil {
				why := describe(err)
				if ctx.Err() != nil {
					why = fmt.Sprintf("still a learner after --timeout %v", e.timeout)
				}
				fmt.Fprintf(e.stderr, "verdictctl: cluster add: node %d was added but is not a voter yet: %s\n"+
					"Is it running with --join? `verdictctl cluster status` shows its progress; the leader promotes it once it has caught up.\n", id, why)
				return exitFailure
			}
		}
		if e.json() {
			return e.writeJSONOrFail(&verdictv1.AddMemberResponse{Members: ms})
		}
		fmt.Fprintln(e.stdout)
		printMembers(e.stdout, ms)
		return exitOK
	}
}

// waitVoter polls the leader's view of the membership until id is a voter,
// printing each change of its progress on stderr.
func (e *env) waitVoter(ctx context.Context, conn *coordconn.Conn, id uint64) ([]*verdictv1.Member, error) {
	last := ""
	for {
		ms, err := leaderMembers(ctx, conn, e.dialOptions()...)
		if err == nil {
			for _, m := range ms {
				if m.GetId() != id {
					continue
				}
				var p string
				switch {
				case !m.GetLearner():
					p = "a voter"
				case m.GetMatchIndex() == 0:
					p = "a learner, waiting for it to answer the leader"
				default:
					p = fmt.Sprintf("a learner, replicated up to log index %d", m.GetMatchIndex())
				}
				if p != last {
					fmt.Fprintf(e.stderr, "node %d: %s\n", id, p)
				}
				last = p
				if !m.GetLearner() {
					return ms, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return nil, err
		case <-time.After(memberPoll):
		}
	}
}

// leaderMembers returns the membership as the leader sees it: only the
// leader knows how far each member has replicated. opts dial the leader
// (the cluster's TLS and admin token).
func leaderMembers(ctx context.Context, conn *coordconn.Conn, opts ...grpc.DialOption) ([]*verdictv1.Member, error) {
	st, err := conn.Admin().Status(ctx, &verdictv1.StatusRequest{})
	if err != nil {
		return nil, err
	}
	if !st.GetLeaderReady() && st.GetLeaderAddress() != "" {
		leader, err := coordconn.Dial([]string{st.GetLeaderAddress()}, opts...)
		if err != nil {
			return nil, err
		}
		defer leader.Close()
		if st, err = leader.Admin().Status(ctx, &verdictv1.StatusRequest{}); err != nil {
			return nil, err
		}
	}
	return st.GetMembers(), nil
}

func setupClusterRemove(fs *flag.FlagSet) func(e *env, args []string) int {
	return func(e *env, args []string) int {
		id, ok := e.memberIDArg("cluster remove", args)
		if !ok {
			return exitUsage
		}
		return callCluster(e, "cluster remove",
			func(ctx context.Context, conn *coordconn.Conn) (*verdictv1.RemoveMemberResponse, error) {
				return conn.Admin().RemoveMember(ctx, &verdictv1.RemoveMemberRequest{Id: id})
			},
			func(resp *verdictv1.RemoveMemberResponse) {
				fmt.Fprintf(e.stdout, "Node %d removed for good (its id is never reused); its process can be stopped.\n\n", id)
				printMembers(e.stdout, resp.GetMembers())
			})
	}
}

func setupClusterTransfer(fs *flag.FlagSet) func(e *env, args []string) int {
	return func(e *env, args []string) int {
		id, ok := e.memberIDArg("cluster transfer", args)
		if !ok {
			return exitUsage
		}
		return callCluster(e, "cluster transfer",
			func(ctx context.Context, conn *coordconn.Conn) (*verdictv1.TransferLeadershipResponse, error) {
				return conn.Admin().TransferLeadership(ctx, &verdictv1.TransferLeadershipRequest{Id: id})
			},
			func(resp *verdictv1.TransferLeadershipResponse) {
				fmt.Fprintf(e.stdout, "Node %d is the leader.\n", resp.GetLeader())
			})
	}
}

func (e *env) writeJSONOrFail(m proto.Message) int {
	if err := writeProtoJSON(e.stdout, m); err != nil {
		return e.fail("write", err)
	}
	return exitOK
}

// memberIDArg reads the one positional argument, a member id.
func (e *env) memberIDArg(cmd string, args []string) (uint64, bool) {
	if len(args) != 1 {
		fmt.Fprintf(e.stderr, "verdictctl %s: want exactly one member id\n", cmd)
		return 0, false
	}
	id, err := parseMemberID(args[0])
	if err != nil {
		fmt.Fprintf(e.stderr, "verdictctl %s: %v\n", cmd, err)
		return 0, false
	}
	return id, true
}

func parseMemberID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("member id %q: want a positive integer", s)
	}
	return id, nil
}

// parseMember reads ID=HOST:PORT.
func parseMember(s string) (uint64, string, error) {
	idStr, addr, ok := strings.Cut(s, "=")
	if !ok {
		return 0, "", fmt.Errorf("%q: want ID=HOST:PORT", s)
	}
	id, err := parseMemberID(idStr)
	if err != nil {
		return 0, "", err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return 0, "", fmt.Errorf("address %q: want HOST:PORT", addr)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return 0, "", fmt.Errorf("address %q: port must be 1-65535", addr)
	}
	return id, addr, nil
}

func printMembers(w io.Writer, ms []*verdictv1.Member) {
	t := newTable(w)
	fmt.Fprintln(t, "MEMBER\tADDRESS\tROLE\tMATCH")
	for _, m := range ms {
		role := "voter"
		if m.GetLearner() {
			role = "learner"
		}
		match := "-"
		if m.GetMatchIndex() > 0 {
			match = strconv.FormatUint(m.GetMatchIndex(), 10)
		}
		fmt.Fprintf(t, "%d\t%s\t%s\t%s\n", m.GetId(), m.GetAddress(), role, match)
	}
	t.Flush()
}

// setupClusterClearDivergence is "verdictctl cluster clear-divergence ID":
// the member may lead again (once its state is repaired: a member still
// different is marked again at the leader's next check).
func setupClusterClearDivergence(fs *flag.FlagSet) func(e *env, args []string) int {
	operator := operatorFlag(fs)
	return func(e *env, args []string) int {
		id, ok := e.memberIDArg("cluster clear-divergence", args)
		if !ok {
			return exitUsage
		}
		return callCluster(e, "cluster clear-divergence",
			func(ctx context.Context, conn *coordconn.Conn) (*verdictv1.ClearDivergenceResponse, error) {
				return conn.Admin().ClearDivergence(ctx, &verdictv1.ClearDivergenceRequest{Id: id, Operator: *operator})
			},
			func(*verdictv1.ClearDivergenceResponse) {
				fmt.Fprintf(e.stdout, "Node %d's diverged mark is cleared: it may lead again.\n", id)
			})
	}
}
