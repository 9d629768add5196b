package participant

import (
	"testing"
	"time"
)

// A fence is kept until a minute past the deadline its work recorded, then
// pruned; an id whose clock is far off cannot pin memory.
func TestTxTablePrunesFences(t *testing.T) {
	tab := newTxTable()
	now := time.Now()
	id := newTxID(t)
	done, refused := tab.begin(id, now.Add(time.Second), now)
	if refused != "" {
		t.Fatal(refused)
	}
	done()
	tab.fence(id, now)
	if !tab.isFenced(id, now.Add(time.Second+rememberSlack-time.Millisecond)) {
		t.Fatal("fence missing before its expiry")
	}
	later := now.Add(time.Second + rememberSlack + pruneEvery)
	if tab.isFenced(id, later) {
		t.Error("expired fence still counts")
	}
	tab.enlist(newTxID(t), later.Add(time.Minute), later)
	if n := tab.len(); n != 1 {
		t.Errorf("len = %d after prune, want 1", n)
	}
	if exp := expiry(id, now.Add(100*24*time.Hour), now); exp.After(now.Add(maxRemember)) {
		t.Errorf("expiry %v beyond the cap", exp)
	}
}

// The transitions of txState: a read-only vote keeps only the enlistment,
// a commit drops the entry, a fence outlives a commit.
func TestTxTableTransitions(t *testing.T) {
	tab := newTxTable()
	now := time.Now()
	deadline := now.Add(time.Minute)
	ro, committed, fenced := newTxID(t), newTxID(t), newTxID(t)
	for _, id := range []string{ro, committed, fenced} {
		done, refused := tab.begin(id, deadline, now)
		if refused != "" {
			t.Fatal(refused)
		}
		done()
		tab.enlist(id, deadline, now)
	}
	end, _, _ := tab.beginPrepare(ro, now)
	end(VoteReadOnly)
	if e := tab.m[ro]; e == nil || e.state != txEnlisted || !tab.isEnlisted(ro, now) {
		t.Errorf("after a read-only vote: %+v, want enlisted only", e)
	}
	tab.committed(committed)
	if _, ok := tab.m[committed]; ok {
		t.Error("a committed transaction is still recorded")
	}
	tab.fence(fenced, now)
	tab.committed(fenced)
	if !tab.isFenced(fenced, now) || tab.isEnlisted(fenced, now) {
		t.Error("a fenced transaction lost its fence when committed, or is still enlisted")
	}
	if end, v, _ := tab.beginPrepare(fenced, now); end != nil || v != VoteNo {
		t.Error("Prepare of a fenced transaction admitted")
	}
	if _, refused := tab.begin(fenced, deadline, now); refused != refusedAborted {
		t.Errorf("work under a fenced transaction: %q, want %q", refused, refusedAborted)
	}
}
