package console

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"sync"
	"time"
)

// Sample is a reading of the node's counters (its Prometheus metrics).
type Sample struct {
	At      time.Time
	Commits float64 // verdict_commits_total, every path
	Aborts  float64 // verdict_aborts_total, every reason
	// Latency is the commit latency histogram, cumulative, by upper bound
	// in seconds (the last +Inf).
	Latency []Bucket
	InDoubt float64
	Stuck   float64
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	Le    float64
	Count float64
}

// liveSamples is how many seconds the console keeps: ten minutes.
const liveSamples = 600

// ring keeps the last samples.
type ring struct {
	mu  sync.Mutex
	buf []Sample
	n   int // samples written
}

func newRing(size int) *ring { return &ring{buf: make([]Sample, size)} }

func (r *ring) add(s Sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.n%len(r.buf)] = s
	r.n++
}

// all returns the samples kept, oldest first.
func (r *ring) all() []Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := min(r.n, len(r.buf))
	out := make([]Sample, 0, k)
	for i := r.n - k; i < r.n; i++ {
		out = append(out, r.buf[i%len(r.buf)])
	}
	return out
}

// Run samples the node every second until ctx is done.
func (c *Console) Run(ctx context.Context) {
	if c.b.Sample == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		c.live.add(c.b.Sample())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// point is one second of the live series.
type point struct {
	At         int64   `json:"at_unix_ms"`
	CommitsPS  float64 `json:"commits_per_sec"`
	AbortsPS   float64 `json:"aborts_per_sec"`
	LatencyP50 float64 `json:"commit_p50_ms"` // over the last 10 s; NaN as null
	LatencyP99 float64 `json:"commit_p99_ms"`
	InDoubt    float64 `json:"in_doubt"`
	Stuck      float64 `json:"stuck"`
}

// latencyWindow is how many seconds each point's percentiles cover.
const latencyWindow = 10

// series turns samples into per-second points.
func series(ss []Sample) []point {
	var out []point
	for i := 1; i < len(ss); i++ {
		a, b := ss[i-1], ss[i]
		dt := b.At.Sub(a.At).Seconds()
		if dt <= 0 {
			continue
		}
		w := ss[max(0, i-latencyWindow)]
		out = append(out, point{
			At:         b.At.UnixMilli(),
			CommitsPS:  max(0, b.Commits-a.Commits) / dt,
			AbortsPS:   max(0, b.Aborts-a.Aborts) / dt,
			LatencyP50: quantile(0.5, w.Latency, b.Latency) * 1000,
			LatencyP99: quantile(0.99, w.Latency, b.Latency) * 1000,
			InDoubt:    b.InDoubt,
			Stuck:      b.Stuck,
		})
	}
	return out
}

// quantile estimates the q-quantile of the observations between two
// readings of a cumulative histogram, interpolating inside the bucket as
// Prometheus's histogram_quantile does; NaN without observations.
func quantile(q float64, from, to []Bucket) float64 {
	if len(to) == 0 {
		return math.NaN()
	}
	if len(from) != len(to) {
		from = make([]Bucket, len(to))
	}
	total := to[len(to)-1].Count - from[len(from)-1].Count
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for i, b := range to {
		n := b.Count - from[i].Count
		if n >= rank {
			if math.IsInf(b.Le, 1) {
				return lower
			}
			in := n - below
			if in <= 0 {
				return b.Le
			}
			return lower + (b.Le-lower)*(rank-below)/in
		}
		lower, below = b.Le, n
	}
	return lower
}

func (c *Console) liveJSON(w http.ResponseWriter, _ *http.Request) {
	pts := series(c.live.all())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Points []jsonPoint `json:"points"`
	}{jsonPoints(pts)})
}

// jsonPoint is a point with its NaNs as nulls.
type jsonPoint struct {
	point
	LatencyP50 *float64 `json:"commit_p50_ms"`
	LatencyP99 *float64 `json:"commit_p99_ms"`
}

func jsonPoints(pts []point) []jsonPoint {
	out := make([]jsonPoint, len(pts))
	for i, p := range pts {
		out[i] = jsonPoint{point: p, LatencyP50: finite(p.LatencyP50), LatencyP99: finite(p.LatencyP99)}
	}
	return out
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

type liveData struct {
	Last *point
}

func (c *Console) livePage(w http.ResponseWriter, r *http.Request) {
	pts := series(c.live.all())
	d := liveData{}
	if len(pts) > 0 {
		d.Last = &pts[len(pts)-1]
	}
	c.render(w, r, "live", page{Title: "Live", Nav: "live", Data: d})
}
