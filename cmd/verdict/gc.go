package main

import (
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The coordinator's CPU goes largely to short-lived RPC garbage, while its
// live heap is the transaction table: small at low rates, hundreds of MB
// with a long retention window at high rates. A high GOGC buys throughput
// when the live heap is small, but multiplies a large one. tuneGC keeps the
// heap's growth between two collections near gcHeadroom: GOGC is
// 100×gcHeadroom/live, between 100 and 400.
const (
	gcHeadroom  = 256 << 20
	gcMinPct    = 100
	gcMaxPct    = 400
	gcTuneEvery = 5 * time.Second
)

// gcPercent is the GOGC for a live heap of live bytes.
func gcPercent(live uint64) int {
	if live == 0 {
		return gcMaxPct
	}
	return int(min(max(100*uint64(gcHeadroom)/live, gcMinPct), gcMaxPct))
}

// tuneGC sets GOGC from the live heap now and every gcTuneEvery, until stop
// is closed (never, if stop is nil).
func tuneGC(stop <-chan struct{}) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	last := -1
	tick := time.NewTicker(gcTuneEvery)
	defer tick.Stop()
	for {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			if pct := gcPercent(sample[0].Value.Uint64()); pct != last {
				debug.SetGCPercent(pct)
				last = pct
			}
		}
		select {
		case <-tick.C:
		case <-stop:
			return
		}
	}
}
