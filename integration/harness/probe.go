package harness

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Sample is one probe of one server: did it commit a write between Start
// and End?
type Sample struct {
	Start, End time.Time
	Writable   bool
	Err        string // why the server could not be asked; "" when it answered
}

// Probe asks every server, through its unix socket (so the answer does not
// depend on the host's links), whether it commits a write, every Interval,
// and keeps every answer. It is the split-brain detector.
type Probe struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	samples map[string][]Sample
	stopped bool
}

// ProbeInterval is the default spacing of probes per server.
const ProbeInterval = 20 * time.Millisecond

// StartProbe starts probing pgs (keyed by host name) until Stop or tb's
// cleanup.
func StartProbe(tb TB, interval time.Duration, pgs ...*PG) *Probe {
	if interval == 0 {
		interval = ProbeInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Probe{cancel: cancel, samples: map[string][]Sample{}}
	for _, pg := range pgs {
		p.wg.Add(1)
		go p.loop(ctx, pg, interval)
	}
	tb.Cleanup(func() { p.Stop() })
	return p
}

func (p *Probe) loop(ctx context.Context, pg *PG, interval time.Duration) {
	defer p.wg.Done()
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s := Sample{Start: time.Now()}
		// A stopped (SIGSTOP) or hung server must read as "not writable" within
		// a few intervals, not block the probe.
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		var err error
		if conn == nil {
			var cfg *pgx.ConnConfig
			if cfg, err = pg.ConnConfig(); err == nil {
				cfg.ConnectTimeout = 500 * time.Millisecond
				conn, err = pgx.ConnectConfig(cctx, cfg)
			}
		}
		if err == nil {
			s.Writable, err = probeWrite(cctx, conn, pg.Host.Name)
		}
		cancel()
		s.End = time.Now()
		if ctx.Err() != nil {
			return // cut short by Stop: not an answer
		}
		if err != nil {
			s.Err = err.Error()
			if conn != nil {
				conn.Close(context.Background())
				conn = nil
			}
		}
		p.mu.Lock()
		p.samples[pg.Host.Name] = append(p.samples[pg.Host.Name], s)
		p.mu.Unlock()
	}
}

// Last returns the latest sample for host.
func (p *Probe) Last(host string) (Sample, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ss := p.samples[host]
	if len(ss) == 0 {
		return Sample{}, false
	}
	return ss[len(ss)-1], true
}

// WaitState waits until host's latest sample, taken entirely after since,
// has Writable == writable.
func (p *Probe) WaitState(ctx context.Context, timeout time.Duration, host string, since time.Time, writable bool) error {
	return Eventually(ctx, timeout, 10*time.Millisecond, func(context.Context) (bool, error) {
		s, ok := p.Last(host)
		if !ok || !s.Start.After(since) {
			return false, fmt.Errorf("no probe of %s started after %s", host, since.Format("15:04:05.000"))
		}
		if s.Writable == writable {
			return true, nil
		}
		return false, fmt.Errorf("probe of %s at %s: writable=%v err=%q", host, s.Start.Format("15:04:05.000"), s.Writable, s.Err)
	})
}

// Stop stops probing and returns every sample; safe to call again.
func (p *Probe) Stop() ProbeReport {
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	r := ProbeReport{Samples: map[string][]Sample{}}
	for h, ss := range p.samples {
		r.Samples[h] = append([]Sample(nil), ss...)
	}
	return r
}

// Snapshot returns the samples so far without stopping.
func (p *Probe) Snapshot() ProbeReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := ProbeReport{Samples: map[string][]Sample{}}
	for h, ss := range p.samples {
		r.Samples[h] = append([]Sample(nil), ss...)
	}
	return r
}

// ProbeReport holds every sample, per host.
type ProbeReport struct {
	Samples map[string][]Sample
}

// Interval is a stretch during which a host may have accepted writes: from
// the start of the first successful probe of a run of successes to the end
// of the last one. Deliberately generous, so overlaps are never missed.
type Interval struct {
	Host     string
	From, To time.Time
}

func (iv Interval) String() string {
	return fmt.Sprintf("%s writable %s-%s", iv.Host, iv.From.Format("15:04:05.000"), iv.To.Format("15:04:05.000"))
}

// Intervals returns host's writable intervals in time order.
func (r ProbeReport) Intervals(host string) []Interval {
	var out []Interval
	var cur *Interval
	for _, s := range r.Samples[host] {
		switch {
		case s.Writable && cur == nil:
			cur = &Interval{Host: host, From: s.Start, To: s.End}
		case s.Writable:
			cur.To = s.End
		case cur != nil:
			out = append(out, *cur)
			cur = nil
		}
	}
	if cur != nil {
		out = append(out, *cur)
	}
	return out
}

// Overlap is a time when two hosts may both have accepted writes.
type Overlap struct {
	A, B     string
	From, To time.Time
}

func (o Overlap) String() string {
	return fmt.Sprintf("%s and %s both writable %s-%s (%v)", o.A, o.B, o.From.Format("15:04:05.000"), o.To.Format("15:04:05.000"), o.To.Sub(o.From).Round(time.Millisecond))
}

// Overlaps returns every stretch in which two different hosts had
// overlapping writable intervals: possible split-brain.
func (r ProbeReport) Overlaps() []Overlap {
	hosts := make([]string, 0, len(r.Samples))
	for h := range r.Samples {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	var out []Overlap
	for i := range hosts {
		for j := i + 1; j < len(hosts); j++ {
			for _, a := range r.Intervals(hosts[i]) {
				for _, b := range r.Intervals(hosts[j]) {
					from, to := later(a.From, b.From), earlier(a.To, b.To)
					if !to.Before(from) {
						out = append(out, Overlap{A: hosts[i], B: hosts[j], From: from, To: to})
					}
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].From.Before(out[j].From) })
	return out
}

// OverlapsAfter returns the overlaps that reach past t, e.g. the instant
// the new primary first accepted a write.
func (r ProbeReport) OverlapsAfter(t time.Time) []Overlap {
	var out []Overlap
	for _, o := range r.Overlaps() {
		if o.To.After(t) {
			out = append(out, o)
		}
	}
	return out
}

// FirstWritable returns the start of the first successful probe of host
// that started after t.
func (r ProbeReport) FirstWritable(host string, after time.Time) (time.Time, bool) {
	for _, s := range r.Samples[host] {
		if s.Writable && s.Start.After(after) {
			return s.Start, true
		}
	}
	return time.Time{}, false
}

// LastWritable returns the end of the last successful probe of host: after
// it, host never accepted a probe write.
func (r ProbeReport) LastWritable(host string) (time.Time, bool) {
	ss := r.Samples[host]
	for i := len(ss) - 1; i >= 0; i-- {
		if ss[i].Writable {
			return ss[i].End, true
		}
	}
	return time.Time{}, false
}

// Summary is a few lines for t.Logf: per host, the writable intervals.
func (r ProbeReport) Summary() string {
	hosts := make([]string, 0, len(r.Samples))
	for h := range r.Samples {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	var b strings.Builder
	for _, h := range hosts {
		fmt.Fprintf(&b, "probe %s: %d samples", h, len(r.Samples[h]))
		for _, iv := range r.Intervals(h) {
			fmt.Fprintf(&b, "; writable %s-%s", iv.From.Format("15:04:05.000"), iv.To.Format("15:04:05.000"))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
