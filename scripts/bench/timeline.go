package main

import (
	"fmt"
	"html"
	"math"
	"strings"
	"time"
)

// Timeline is one restart as the client and the journal saw it. Times are
// relative to the moment the restart was asked for.
type Timeline struct {
	Title    string
	From, To time.Duration
	Reqs     []tlReq
	Procs    []tlProc
	Marks    []tlMark
	Summary  string
}

type tlReq struct {
	From, To time.Duration
	Class    string // old, new, refused, failed
	Long     bool   // drawn on its own, with its duration
	Took     time.Duration
}

type tlProc struct {
	Label    string
	From, To time.Duration
	Row      int
}

type tlMark struct {
	At    time.Duration
	Label string
	Row   int // -1: a line across every row
}

func buildTimeline(title string, run *probeRun, js []JEntry) *Timeline {
	rel := func(t time.Time) time.Duration { return run.probe.At(t) - run.at }
	tl := &Timeline{Title: title}
	answer := run.answer - run.at

	// The old process: until its exit line; STOPPING=1 is sent just
	// before the "drain started" line.
	oldEnd := time.Duration(-1)
	stopping := time.Duration(-1)
	if e, ok := findEvent(js, run.oldPID, "drain_started", run.trigger.Add(-time.Second)); ok {
		stopping = rel(e.T)
	}
	if e, ok := findEvent(js, run.oldPID, "exit", run.trigger.Add(-time.Second)); ok {
		oldEnd = rel(e.T)
	}
	// The new process: from its exec (systemd's timestamp, else its first
	// line) to the end; READY=1 just before its "ready" line.
	newStart := time.Duration(-1)
	if !run.newExec.IsZero() && run.newExec.After(run.trigger) {
		newStart = rel(run.newExec)
	} else if e, ok := findEvent(js, run.newPID, "started", run.trigger); ok {
		newStart = rel(e.T)
	}
	ready := time.Duration(-1)
	if e, ok := findEvent(js, run.newPID, "ready", run.trigger); ok {
		ready = rel(e.T)
	} else if !run.ready.IsZero() && run.ready.After(run.trigger) {
		ready = rel(run.ready)
	}

	last := max(answer, ready, oldEnd, newStart)
	margin := max(last/8, 5*time.Millisecond)
	tl.From, tl.To = -margin, last+margin
	if oldEnd < 0 {
		oldEnd = 0
	}
	tl.Procs = append(tl.Procs, tlProc{Label: fmt.Sprintf("old process (pid %d)", run.oldPID), From: tl.From, To: oldEnd, Row: 1})
	if newStart >= 0 {
		tl.Procs = append(tl.Procs, tlProc{Label: fmt.Sprintf("new process (pid %d)", run.newPID), From: newStart, To: tl.To, Row: 2})
	}
	tl.Marks = append(tl.Marks, tlMark{At: 0, Label: "restart asked", Row: -1})
	if stopping >= 0 {
		tl.Marks = append(tl.Marks, tlMark{At: stopping, Label: "STOPPING=1", Row: 1})
	}
	if oldEnd > 0 {
		tl.Marks = append(tl.Marks, tlMark{At: oldEnd, Label: "exit", Row: 1})
	}
	// A planned restart (exit 75) waits for the manager's RestartSec=
	// timer: its "Scheduled restart job" line.
	for _, e := range js {
		if at := rel(e.T); at > 0 && at <= max(newStart, answer) && strings.Contains(e.Msg, "Scheduled restart job") {
			tl.Marks = append(tl.Marks, tlMark{At: at, Label: "RestartSec= timer", Row: 2})
			break
		}
	}
	if newStart >= 0 {
		tl.Marks = append(tl.Marks, tlMark{At: newStart, Label: "fork", Row: 2})
	}
	if ready >= 0 {
		tl.Marks = append(tl.Marks, tlMark{At: ready, Label: "READY=1", Row: 2})
	}
	// A request that took long (it waited in a socket's backlog) is drawn
	// on its own, outlined; back-to-back quick ones of one kind are merged
	// (thousands of rects would say no more).
	long := max((tl.To-tl.From)/30, 5*time.Millisecond)
	for _, r := range run.reqs {
		from, to := r.Start-run.at, r.End-run.at
		if to < tl.From || from > tl.To {
			continue
		}
		c := "old"
		switch {
		case r.Outcome == Refused:
			c = "refused"
		case r.Outcome == Failed:
			c = "failed"
		case r.PID != run.oldPID:
			c = "new"
		}
		q := tlReq{From: max(from, tl.From), To: min(to, tl.To), Class: c, Long: to-from > long, Took: to - from}
		if n := len(tl.Reqs); n > 0 && !q.Long && !tl.Reqs[n-1].Long && tl.Reqs[n-1].Class == c && from-tl.Reqs[n-1].To < (tl.To-tl.From)/400 {
			tl.Reqs[n-1].To = max(tl.Reqs[n-1].To, q.To)
			continue
		}
		tl.Reqs = append(tl.Reqs, q)
	}
	tl.Summary = fmt.Sprintf("%d requests from the restart on: %d answered, %d refused, %d failed; longest request %.1f ms, longest time without an answer %.1f ms",
		run.seen.Requests, run.seen.Answered, run.seen.Refused, run.seen.Failed, ms(run.seen.LongestStall), ms(run.seen.LongestGap))
	return tl
}

var tlColors = map[string]string{"old": "#7a9cc6", "new": "#4caf50", "refused": "#e53935", "failed": "#fb8c00"}

// SVG draws the timeline: the client's requests on the first row, the
// processes below, time in ms along the bottom.
func (tl *Timeline) SVG() string {
	const (
		w, left, right = 960.0, 170.0, 20.0
		top, rowH      = 48.0, 46.0
	)
	h := top + 3*rowH + 78
	span := float64(tl.To - tl.From)
	x := func(d time.Duration) float64 { return left + (w-left-right)*float64(d-tl.From)/span }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", html.EscapeString(tl.Title))
	fmt.Fprintf(&b, `<text x="10" y="36" fill="#555">%s</text>`+"\n", html.EscapeString(tl.Summary))
	labels := []string{"client requests", "", ""}
	for _, p := range tl.Procs {
		labels[p.Row] = p.Label
	}
	for i, l := range labels {
		y := top + float64(i)*rowH
		fmt.Fprintf(&b, `<text x="10" y="%.1f">%s</text>`+"\n", y+rowH/2+4, html.EscapeString(l))
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", left, w-right, y+rowH, y+rowH)
	}
	for _, r := range tl.Reqs {
		x0, x1 := x(r.From), x(r.To)
		if !r.Long {
			fmt.Fprintf(&b, `<rect x="%.2f" y="%.1f" width="%.2f" height="%.1f" fill="%s"/>`+"\n", x0, top+18, math.Max(x1-x0, 0.8), rowH-26, tlColors[r.Class])
			continue
		}
		// A long request: outlined, in its own lane above the others.
		fmt.Fprintf(&b, `<rect x="%.2f" y="%.1f" width="%.2f" height="%.1f" fill="%s" fill-opacity="0.35" stroke="%s"/>`+"\n", x0, top+4, math.Max(x1-x0, 0.8), 12.0, tlColors[r.Class], tlColors[r.Class])
		fmt.Fprintf(&b, `<text x="%.2f" y="%.1f" font-size="10">one request: %.1f ms</text>`+"\n", x0+3, top+14, ms(r.Took))
	}
	for _, p := range tl.Procs {
		y := top + float64(p.Row)*rowH
		fill := "#7a9cc6"
		if p.Row == 2 {
			fill = "#4caf50"
		}
		fmt.Fprintf(&b, `<rect x="%.2f" y="%.1f" width="%.2f" height="%.1f" fill="%s" opacity="0.8"/>`+"\n", x(p.From), y+12, math.Max(x(p.To)-x(p.From), 1), rowH-24, fill)
	}
	// Mark labels: below the bar, or above it when the line below is
	// taken there; whichever runs into less when both are.
	ends := map[int]*[2]float64{}
	for _, m := range tl.Marks {
		xm := x(m.At)
		if m.Row < 0 {
			fmt.Fprintf(&b, `<line x1="%.2f" x2="%.2f" y1="%.1f" y2="%.1f" stroke="#333" stroke-dasharray="4,3"/>`+"\n", xm, xm, top, top+3*rowH)
			fmt.Fprintf(&b, `<text x="%.2f" y="%.1f" text-anchor="middle" fill="#333">%s</text>`+"\n", xm, top-2, html.EscapeString(m.Label))
			continue
		}
		y := top + float64(m.Row)*rowH
		fmt.Fprintf(&b, `<line x1="%.2f" x2="%.2f" y1="%.1f" y2="%.1f" stroke="black" stroke-width="2"/>`+"\n", xm, xm, y+6, y+rowH-6)
		width := 7 * float64(len(m.Label))
		lx, anchor := xm+3, "start"
		if lx+width > w-right {
			lx, anchor = xm-3-width, "end"
		}
		e := ends[m.Row]
		if e == nil {
			e = &[2]float64{-1e9, -1e9}
			ends[m.Row] = e
		}
		line := 0 // 0 below, 1 above
		if lx < e[0]+4 && (lx >= e[1]+4 || e[1] < e[0]) {
			line = 1
		}
		e[line] = lx + width
		ly := y + rowH - 1
		if line == 1 {
			ly = y + 9
		}
		tx := lx
		if anchor == "end" {
			tx = lx + width
		}
		fmt.Fprintf(&b, `<text x="%.2f" y="%.1f" text-anchor="%s">%s</text>`+"\n", tx, ly, anchor, html.EscapeString(m.Label))
	}
	// Axis.
	axisY := top + 3*rowH + 8
	fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#333"/>`+"\n", left, w-right, axisY, axisY)
	step := niceStep(span / 1e6 / 8)
	for t := math.Ceil(float64(tl.From)/1e6/step) * step; t <= float64(tl.To)/1e6; t += step {
		xt := x(time.Duration(t * 1e6))
		fmt.Fprintf(&b, `<line x1="%.2f" x2="%.2f" y1="%.1f" y2="%.1f" stroke="#333"/>`+"\n", xt, xt, axisY, axisY+5)
		fmt.Fprintf(&b, `<text x="%.2f" y="%.1f" text-anchor="middle">%s</text>`+"\n", xt, axisY+18, tickLabel(t))
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end" fill="#555">ms after the restart was asked for</text>`+"\n", w-right, axisY+34)
	// Legend.
	lx := left
	for _, c := range []struct{ class, label string }{{"old", "answered by the old process"}, {"new", "answered by the new process"}, {"refused", "refused"}, {"failed", "failed"}} {
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.1f" width="12" height="12" fill="%s"/>`+"\n", lx, h-20, tlColors[c.class])
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f">%s</text>`+"\n", lx+16, h-10, c.label)
		lx += 16 + 7*float64(len(c.label)) + 24
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// niceStep rounds a tick interval to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func tickLabel(t float64) string {
	t = math.Round(t*1000) / 1000
	if t == 0 {
		return "0"
	}
	return fmt.Sprintf("%g", t)
}
