package console

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	verdictv1 "github.com/verdict-tx/verdict/proto/verdict/v1"
)

// The chart's geometry, in SVG user units (it scales to the page's width).
const (
	chartWidth = 960
	labelWidth = 150
	rowHeight  = 34
	axisHeight = 28
	markSize   = 7
)

// coordinatorRow names the row of the events about no one participant.
const coordinatorRow = "coordinator"

// timelineSVG draws tx's timeline: time across, one row for the
// coordinator's own events and one per participant, a mark per event with
// its time and detail as a tooltip (and as text for screen readers). A
// failed delivery is a red cross, an acknowledgement a green tick, a NO
// vote a red mark. An undone transaction's axis runs to now.
func timelineSVG(tx *verdictv1.Transaction, now time.Time) template.HTML {
	events := tx.GetTimeline()
	if len(events) == 0 {
		return template.HTML(`<p class="muted">No timeline: a leader records one only for what it saw itself (a new leader, or a transaction decided before it took office, has none).</p>`)
	}
	rows := []string{coordinatorRow}
	index := map[string]int{coordinatorRow: 0}
	for _, p := range tx.GetParticipants() {
		index[p.GetName()], rows = len(rows), append(rows, p.GetName())
	}
	for _, e := range events {
		if p := e.GetParticipant(); p != "" {
			if _, ok := index[p]; !ok {
				index[p], rows = len(rows), append(rows, p)
			}
		}
	}
	start := time.UnixMilli(events[0].GetUnixMs())
	end := time.UnixMilli(events[len(events)-1].GetUnixMs())
	if !tx.GetDone() && now.After(end) {
		end = now
	}
	span := end.Sub(start)
	if span <= 0 {
		span = time.Millisecond
	}
	x := func(t time.Time) float64 {
		return labelWidth + float64(t.Sub(start))/float64(span)*float64(chartWidth-labelWidth-20)
	}
	height := axisHeight + rowHeight*len(rows) + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="timeline" viewBox="0 0 %d %d" role="img" aria-labelledby="tl-title tl-desc" xmlns="http://www.w3.org/2000/svg">`, chartWidth, height)
	fmt.Fprintf(&b, `<title id="tl-title">Timeline of transaction %s</title>`, template.HTMLEscapeString(tx.GetTxid()))
	fmt.Fprintf(&b, `<desc id="tl-desc">%d events over %v, one row per participant; the table below lists them.</desc>`, len(events), span.Round(time.Millisecond))
	for i, name := range rows {
		y := axisHeight + i*rowHeight + rowHeight/2
		fmt.Fprintf(&b, `<line class="row" x1="%d" y1="%d" x2="%d" y2="%d"/>`, labelWidth, y, chartWidth-10, y)
		fmt.Fprintf(&b, `<text class="label" x="%d" y="%d">%s</text>`, labelWidth-8, y+4, template.HTMLEscapeString(name))
	}
	for _, tick := range []struct {
		frac   float64
		anchor string
	}{{0, "start"}, {0.5, "middle"}, {1, "end"}} {
		t := start.Add(time.Duration(tick.frac * float64(span)))
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="16" text-anchor="%s">+%v</text>`, x(t), tick.anchor, t.Sub(start).Round(time.Millisecond))
	}
	for _, e := range events {
		row := index[e.GetParticipant()]
		if e.GetParticipant() == "" {
			row = 0
		}
		t := time.UnixMilli(e.GetUnixMs())
		cx, cy := x(t), float64(axisHeight+row*rowHeight+rowHeight/2)
		class := markClass(e)
		tip := fmt.Sprintf("%s +%v %s %s", e.GetKind(), t.Sub(start).Round(time.Millisecond), e.GetParticipant(), e.GetDetail())
		fmt.Fprintf(&b, `<g class="mark %s"><title>%s</title>%s</g>`, class, template.HTMLEscapeString(tip), markShape(class, cx, cy))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// markClass classifies an event for its mark's shape and colour.
func markClass(e *verdictv1.TimelineEvent) string {
	d := strings.ToLower(e.GetDetail())
	switch k := e.GetKind(); {
	case k == "attempt":
		return "failed"
	case k == "ack":
		return "ack"
	case k == "vote" && (strings.HasPrefix(d, "no") || strings.Contains(d, "voted no")):
		return "no"
	case k == "vote":
		return "yes"
	case k == "decision" && strings.Contains(d, "abort"):
		return "aborted"
	case k == "decision":
		return "decided"
	case k == "heuristic":
		return "heuristic"
	}
	return "step"
}

func markShape(class string, cx, cy float64) string {
	s := float64(markSize)
	switch class {
	case "failed":
		return fmt.Sprintf(`<path d="M%.1f %.1f L%.1f %.1f M%.1f %.1f L%.1f %.1f"/>`, cx-s, cy-s, cx+s, cy+s, cx-s, cy+s, cx+s, cy-s)
	case "ack":
		return fmt.Sprintf(`<path d="M%.1f %.1f L%.1f %.1f L%.1f %.1f"/>`, cx-s, cy, cx-s/3, cy+s*0.8, cx+s, cy-s)
	case "decided", "aborted":
		return fmt.Sprintf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, cx-s, cy-s, 2*s, 2*s)
	}
	return fmt.Sprintf(`<circle cx="%.1f" cy="%.1f" r="%.1f"/>`, cx, cy, s*0.8)
}
