package bench

import (
	"math"
	"time"
)

// histogram records durations in log-linear buckets: 64 sub-buckets per power
// of two from 1µs, so a percentile is within about 1.6% of the truth. It is
// not safe for concurrent use; each worker keeps its own and they are merged.
type histogram struct {
	counts [64 * 40]uint64
	n      uint64
}

const subBuckets = 64

func bucketOf(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us < 1 {
		return 0
	}
	exp := math.Floor(math.Log2(us))
	frac := us/math.Exp2(exp) - 1 // in [0, 1)
	b := int(exp)*subBuckets + int(frac*subBuckets)
	return min(b, len(histogram{}.counts)-1)
}

func bucketValue(b int) time.Duration {
	exp := b / subBuckets
	frac := float64(b%subBuckets) / subBuckets
	us := math.Exp2(float64(exp)) * (1 + frac)
	return time.Duration(us * float64(time.Microsecond))
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.n++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// percentile returns the duration at or below which q (0..1) of the samples fall.
func (h *histogram) percentile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return bucketValue(i)
		}
	}
	return bucketValue(len(h.counts) - 1)
}
