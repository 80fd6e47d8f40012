package membership

import (
	"log/slog"
	"testing"
	"time"
)

func TestTimingFor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		nodeTimeout       time.Duration
		heartbeat, window time.Duration
		suspicionMult     int
	}{
		{time.Second, 100 * time.Millisecond, 900 * time.Millisecond, 8},
		{5 * time.Second, 500 * time.Millisecond, 4500 * time.Millisecond, 8},
		{50 * time.Second, time.Second, 49 * time.Second, 48}, // EFM's default node.timeout
		{100 * time.Millisecond, 10 * time.Millisecond, 90 * time.Millisecond, 8},
	}
	for _, c := range cases {
		tm, err := TimingFor(c.nodeTimeout)
		if err != nil {
			t.Fatalf("TimingFor(%v): %v", c.nodeTimeout, err)
		}
		if tm.Heartbeat != c.heartbeat || tm.Window != c.window || tm.SuspicionMult != c.suspicionMult {
			t.Errorf("TimingFor(%v) = h %v W %v mult %d, want h %v W %v mult %d", c.nodeTimeout,
				tm.Heartbeat, tm.Window, tm.SuspicionMult, c.heartbeat, c.window, c.suspicionMult)
		}
		if tm.IsolationBound() != c.nodeTimeout {
			t.Errorf("TimingFor(%v).IsolationBound() = %v, want the node timeout", c.nodeTimeout, tm.IsolationBound())
		}
		if tm.Window/tm.Heartbeat < 9 {
			t.Errorf("TimingFor(%v): only %d heartbeats per window", c.nodeTimeout, tm.Window/tm.Heartbeat)
		}
	}
	if _, err := TimingFor(50 * time.Millisecond); err == nil {
		t.Errorf("TimingFor(50ms): no error")
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	ok := Config{Cluster: "efm", BindAddr: "127.0.0.1:7800", NodeTimeout: time.Second}
	cases := []struct {
		name string
		edit func(*Config)
	}{
		{"no cluster", func(c *Config) { c.Cluster = "" }},
		{"no port", func(c *Config) { c.BindAddr = "127.0.0.1" }},
		{"host name bind", func(c *Config) { c.BindAddr = "db1:7800" }},
		{"join without port", func(c *Config) { c.Join = []string{"db2"} }},
		{"bad port", func(c *Config) { c.BindAddr = "127.0.0.1:70000" }},
		{"unspecified without advertise", func(c *Config) { c.BindAddr = "0.0.0.0:7800" }},
		{"bad join", func(c *Config) { c.Join = []string{"10.0.0.1"} }},
		{"bad kind", func(c *Config) { c.Kind = "arbiter" }},
		{"tiny timeout", func(c *Config) { c.NodeTimeout = time.Millisecond }},
		{"encrypt without key", func(c *Config) { c.Encrypt = true }},
		{"short key", func(c *Config) { c.Encrypt, c.Key = true, []byte("0123456789") }},
	}
	for _, tc := range cases {
		c := ok
		tc.edit(&c)
		if _, err := c.resolve(); err == nil {
			t.Errorf("%s: accepted %+v", tc.name, c)
		}
	}
	r, err := Config{Cluster: "efm", BindAddr: "[::1]:7800", AdvertiseAddr: "[2001:db8::1]:7801", NodeTimeout: time.Second}.resolve()
	if err != nil {
		t.Fatalf("IPv6: %v", err)
	}
	if r.name != "::1" || r.selfAddr() != "[2001:db8::1]:7801" {
		t.Errorf("IPv6: name %q advertise %q", r.name, r.selfAddr())
	}
	// .nodes entries: IPs, this node itself (skipped), and names (resolved
	// for auto.allow.hosts from /etc/hosts here: no DNS traffic in tests).
	r, err = Config{Cluster: "efm", BindAddr: "127.0.0.1:7800", NodeTimeout: time.Second,
		Join: []string{"127.0.0.1:7800", "[::1]:7800", "localhost:7801"}}.resolve()
	if err != nil {
		t.Fatalf("join list: %v", err)
	}
	if len(r.joinTargets) != 2 || len(r.joinIPs) != 2 || r.joinIPs[0] != "::1" {
		t.Errorf("join targets %v, IPs %v; want 2 targets (self skipped) and their 2 IPs", r.joinTargets, r.joinIPs)
	}
}

// TestEvents reads the event stream of one node while a peer joins and
// crashes.
func TestEvents(t *testing.T) {
	t.Parallel()
	aIP, bIP := takeIP(t), takeIP(t)
	sink := newLogSink(t, aIP.String())
	a, err := New(Config{Cluster: "efm", BindAddr: addrOf(aIP), Join: []string{addrOf(bIP)},
		AutoAllowHosts: true, NodeTimeout: testNodeTimeout, Logger: slog.New(sink)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Shutdown() })
	nextWhere := func(want EventType, ok func(Event) bool) Event {
		t.Helper()
		deadline := time.After(settle)
		for {
			select {
			case e := <-a.Events():
				if e.Type == want && ok(e) {
					return e
				}
			case <-deadline:
				t.Fatalf("no %s event", want)
			}
		}
	}
	next := func(want EventType) Event {
		t.Helper()
		return nextWhere(want, func(Event) bool { return true })
	}
	self := next(EventJoin)
	if !self.Member.Self {
		t.Errorf("first join event is not this node: %+v", self)
	}
	b := startNode(t, "efm", bIP, withJoin(aIP))
	if e := next(EventJoin); e.Member.Name != b.Name() {
		t.Errorf("join event for %s, want %s", e.Member.Name, b.Name())
	}
	// b counts as a voter at once but as reachable only after the first
	// heartbeat round trip.
	if q := next(EventQuorum).Quorum; !q.Half || q.Voters != 2 {
		t.Errorf("quorum event %+v, want 1 of 2 until a heartbeat round trip", q)
	}
	nextWhere(EventQuorum, func(e Event) bool { return e.Quorum.Majority && e.Quorum.Reachable == 2 })
	b.SetLocalState(StateStandby)
	if e := next(EventUpdate); e.Member.State != StateStandby {
		t.Errorf("update event %+v, want b Standby", e.Member)
	}
	crash := time.Now()
	b.Shutdown()
	// memberlist or the heartbeat may notice first: take both events in
	// either order.
	var down, quorum *Event
	deadline := time.After(settle)
	for down == nil || quorum == nil {
		select {
		case e := <-a.Events():
			switch e.Type {
			case EventDown:
				down = &e
			case EventQuorum:
				quorum = &e
			}
		case <-deadline:
			t.Fatalf("after the crash: down event %v, quorum event %v", down, quorum)
		}
	}
	if down.Member.Name != b.Name() || down.Member.State != StateDown {
		t.Errorf("down event %+v, want b DOWN", down.Member)
	}
	if q := quorum.Quorum; !q.Half || q.Majority || q.Voters != 2 || q.Since.Before(crash) {
		t.Errorf("quorum event %+v, want exactly half (1 of 2) since after the crash", q)
	}
}
