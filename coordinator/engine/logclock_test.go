package engine

import (
	"testing"
	"time"
)

// The log's clock follows a node's clock that agrees with the log, and
// bounds one that runs ahead of it to the log's time plus the jump plus
// 1.25 times the time elapsed since the takeover.
func TestLogClock(t *testing.T) {
	anchor := time.UnixMilli(1_700_000_000_000)
	since := time.Unix(5000, 0) // a monotonic reading, unrelated to wall time
	l := logClock{anchor: anchor, since: since, jump: logClockJump(4 * time.Minute)}
	year := 365 * 24 * time.Hour
	cases := []struct {
		name          string
		wall          time.Time
		elapsed, want time.Duration // want is after anchor
	}{
		{"right clock at takeover", anchor, 0, 0},
		{"right clock later", anchor.Add(10 * time.Minute), 10 * time.Minute, 10 * time.Minute},
		{"clock ahead within the jump", anchor.Add(30 * time.Second), 0, 30 * time.Second},
		{"clock a year ahead at takeover", anchor.Add(year), 0, time.Minute},
		{"clock a year ahead 8m later", anchor.Add(year + 8*time.Minute), 8 * time.Minute, time.Minute + 10*time.Minute},
		{"clock behind", anchor.Add(-time.Hour), time.Minute, -time.Hour},
		{"monotonic reading before the takeover", anchor.Add(year), -time.Minute, time.Minute},
	}
	for _, tc := range cases {
		if got := l.at(tc.wall, since.Add(tc.elapsed)).Sub(anchor); got != tc.want {
			t.Errorf("%s: log time anchor%+v, want anchor%+v", tc.name, got, tc.want)
		}
	}

	var r logClockRef
	if now := time.Now(); !r.now(now).Equal(now) {
		t.Error("before any takeover the log's time is not the node's")
	}
	if ahead := r.start(anchor.UnixMilli(), anchor.Add(year), 4*time.Minute); ahead < year-2*time.Minute || ahead > year {
		t.Errorf("start with a clock a year ahead reported %v ahead", ahead)
	}
	if ahead := r.start(0, anchor.Add(year), 4*time.Minute); ahead != 0 {
		t.Errorf("start on an empty log reported %v ahead, want 0", ahead)
	}
	if got := r.now(anchor.Add(year)); !got.Equal(anchor.Add(year)) {
		t.Errorf("on an empty log the log's time starts at the node's clock: %v", got)
	}
}
