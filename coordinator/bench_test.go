package coordinator

import (
	"context"
	"testing"
)

// BenchmarkCommit runs Begin → stage at two participants → Commit against
// a 3-node cluster in this process, from 64 concurrent initiators.
func BenchmarkCommit(b *testing.B) {
	c := newCluster(b, 3)
	c.leader()
	p1, p2, cl := c.withParticipants()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := runTx(context.Background(), cl, p1, p2); err != nil {
				b.Error(err)
			}
		}
	})
}

// BenchmarkCommitSerial is BenchmarkCommit from one initiator: its ns/op is
// the latency of a whole transaction (Begin, two calls that enlist, Commit).
func BenchmarkCommitSerial(b *testing.B) {
	c := newCluster(b, 3)
	c.leader()
	p1, p2, cl := c.withParticipants()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := runTx(context.Background(), cl, p1, p2); err != nil {
			b.Fatal(err)
		}
	}
}
