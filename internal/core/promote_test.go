package core

import (
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/internal/notify/subject"
)

// loneCandidate is a standby starting alone with nothing persisted (a
// cluster's first start): it elects itself, so its candidacy runs the VIP
// and ping.server.ip checks without any other node. mod changes the
// parameters before the node is built.
func loneCandidate(t *testing.T, mod func(*Params)) *harness {
	t.Helper()
	p := testParams()
	p.Self = "10.0.0.2"
	p.NodeTimeout = 10 * time.Second
	p.LocalPeriod = time.Second
	p.LocalTimeout = 3 * time.Second
	p.LocalTimeoutFinal = time.Second
	p.RemoteTimeout = 2 * time.Second
	p.RecoveryCheckPeriod = time.Second
	p.PingServerConfigured = false
	p.VIPConfigured = true
	p.CheckVIPBeforePromotion = true
	p.CheckVIPTimeout = 10 * time.Second
	mod(&p)
	n, err := New(p, Persisted{Epoch: 1, Primary: "10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, n: n, now: time.Hour, probe: standbyProbe}
	h.step(MembershipChanged{Members: selfOnly(p.Self)})
	h.step(Start{})
	return h
}

// probeShell answers a lone candidate's actions for d: remote databases
// are unreachable, scripts and database operations succeed, and the VIP
// and ping.server.ip probes are answered by vip and ping, each result
// arriving after the delay they return. It records when each action and
// notification happened.
type probeShell struct {
	vip  func(a CheckVIP, round int) (VIPResult, time.Duration)
	ping func(a CheckPingServer) (PingResult, time.Duration)

	// beforePromote, when set, runs before the harness answers the
	// promotion.
	beforePromote func()

	promoted  bool
	vipChecks []time.Duration // when each CheckVIP was emitted
	notes     []timedNote
}

type timedNote struct {
	at time.Duration
	Notify
}

func (s *probeShell) run(h *harness, d time.Duration) {
	h.t.Helper()
	type due struct {
		at time.Duration
		ev Event
	}
	var queue []due
	end := h.now + d
	done := len(h.acts)
	for h.now < end {
		h.now += 50 * time.Millisecond
		var later []due
		for _, q := range queue {
			if q.at <= h.now {
				h.step(q.ev)
			} else {
				later = append(later, q)
			}
		}
		queue = later
		h.step(Tick{})
		for done < len(h.acts) {
			a := h.acts[done]
			done++
			switch a := a.(type) {
			case CheckRemoteDB:
				h.step(RemoteDBResult{Seq: a.Seq, Node: a.Node, Err: "no route to host"})
			case CheckVIP:
				s.vipChecks = append(s.vipChecks, h.now)
				r, delay := s.vip(a, len(s.vipChecks))
				r.Seq = a.Seq
				queue = append(queue, due{h.now + delay, r})
			case CheckPingServer:
				r, delay := s.ping(a)
				r.Seq = a.Seq
				queue = append(queue, due{h.now + delay, r})
			case RunScript:
				h.step(ScriptResult{Seq: a.Seq, Script: a.Script})
			case Notify:
				s.notes = append(s.notes, timedNote{h.now, a})
			case DoDB:
				if a.Op == OpPromoteDB && s.beforePromote != nil {
					s.beforePromote()
				}
				s.promoted = s.promoted || a.Op == OpPromoteDB
				h.step(DBOpResult{Seq: a.Seq, OK: true})
			}
		}
	}
}

// subjects counts the notifications by subject.
func (s *probeShell) count(subj subject.Subject) int {
	n := 0
	for _, x := range s.notes {
		if x.Subject == subj {
			n++
		}
	}
	return n
}

func (s *probeShell) first(subj subject.Subject) (timedNote, bool) {
	for _, x := range s.notes {
		if x.Subject == subj {
			return x, true
		}
	}
	return timedNote{}, false
}

func freePing(CheckPingServer) (PingResult, time.Duration) {
	return PingResult{Reachable: true}, 10 * time.Millisecond
}

// TestVIPProbeInDoubtNeverPromotes: with check.vip.before.promotion, a VIP
// probe that fails or is killed at its deadline says nothing about the VIP,
// which may still be held by the old primary. The candidate must not promote
// on it: it warns once per candidacy, probes again every
// recovery.check.period, and gives the candidacy up once check.vip.timeout
// has passed; the cluster then tries again later.
func TestVIPProbeInDoubtNeverPromotes(t *testing.T) {
	failed := func(a CheckVIP, _ int) (VIPResult, time.Duration) {
		return VIPResult{Err: `probing 10.0.0.100: ping.server.command failed with exit status 2: ping: connect: Network is unreachable`}, 20 * time.Millisecond
	}
	timedOut := func(a CheckVIP, _ int) (VIPResult, time.Duration) {
		return VIPResult{Err: "probing 10.0.0.100: ping.server.command did not finish in time"}, a.Timeout
	}
	free := func(CheckVIP, int) (VIPResult, time.Duration) { return VIPResult{}, 20 * time.Millisecond }
	doubtThenFree := func(a CheckVIP, round int) (VIPResult, time.Duration) {
		if round < 3 {
			return failed(a, round)
		}
		return free(a, round)
	}
	tests := []struct {
		name        string
		vip         func(CheckVIP, int) (VIPResult, time.Duration)
		wantPromote bool
	}{
		{"probe fails (ping exit 2)", failed, false},
		{"probe killed at its deadline", timedOut, false},
		{"probe answers free: promotes (the harness can promote)", free, true},
		{"in doubt, then free: promotes on the answer", doubtThenFree, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := loneCandidate(t, func(p *Params) { p.ProbeTimeout = 6 * time.Second })
			s := &probeShell{vip: tc.vip, ping: freePing}
			s.run(h, 3*time.Minute)
			if s.promoted != tc.wantPromote {
				t.Fatalf("promoted %v, want %v; notifications %v", s.promoted, tc.wantPromote, s.notes)
			}
			if len(s.vipChecks) == 0 {
				t.Fatal("no CheckVIP emitted")
			}
			for _, a := range h.acts {
				if c, ok := a.(CheckVIP); ok && c.Timeout != 6*time.Second {
					t.Fatalf("CheckVIP timeout %v, want the probe's own deadline 6s (not remote.timeout)", c.Timeout)
				}
			}
			if tc.wantPromote {
				return
			}
			warned, aborted := s.count(subject.VIPInDoubt), s.count(subject.VIPInDoubtNoPromotion)
			if warned == 0 || aborted == 0 {
				t.Fatalf("warnings %q ×%d, aborts %q ×%d; want both; notifications %v", subject.VIPInDoubt, warned, subject.VIPInDoubtNoPromotion, aborted, s.notes)
			}
			// One warning per candidacy, however many probes it retried
			// (the last candidacy may still be probing when the run ends).
			if warned != aborted && warned != aborted+1 {
				t.Errorf("%d doubt warnings for %d candidacies given up; want one each", warned, aborted)
			}
			w, _ := s.first(subject.VIPInDoubt)
			ab, _ := s.first(subject.VIPInDoubtNoPromotion)
			if w.Level() != subject.Warning || ab.Level() != subject.Warning {
				t.Errorf("levels %v, %v; want WARNING", w.Level(), ab.Level())
			}
			if !strings.Contains(w.Text, "Network is unreachable") && !strings.Contains(w.Text, "did not finish in time") {
				t.Errorf("warning text %q does not say why", w.Text)
			}
			if strings.Contains(ab.Subject.Text, "still be assigned") || s.count(subject.VIPStillAssigned) != 0 {
				t.Errorf("a VIP in doubt was reported as still assigned")
			}
			// Probes were retried within the first candidacy, and it was
			// given up once check.vip.timeout had passed, no sooner.
			start := s.vipChecks[0]
			var inFirst int
			for _, at := range s.vipChecks {
				if at <= ab.at {
					inFirst++
				}
			}
			if inFirst < 2 {
				t.Errorf("%d VIP probe(s) before giving up; want retries", inFirst)
			}
			p := h.n.p
			if took := ab.at - start; took < p.CheckVIPTimeout || took > p.vipCheckBound()+100*time.Millisecond {
				t.Errorf("gave up %v after the first probe; want between check.vip.timeout=%v and %v", took, p.CheckVIPTimeout, p.vipCheckBound())
			}
			// Alone, the candidate has nobody to send its resignation to
			// (the core names each recipient): it is in its log.
			if !logged(h.acts, "lease resigned") {
				t.Errorf("candidacy given up without a resign message")
			}
		})
	}
}

// TestPingServerProbeInDoubtNeverPromotes: a ping.server.ip probe that could
// not tell gives the candidacy up as "in doubt", not as "orphaned" and never
// as "answers".
func TestPingServerProbeInDoubtNeverPromotes(t *testing.T) {
	h := loneCandidate(t, func(p *Params) { p.PingServerConfigured = true })
	s := &probeShell{
		vip: func(CheckVIP, int) (VIPResult, time.Duration) { return VIPResult{}, 20 * time.Millisecond },
		ping: func(a CheckPingServer) (PingResult, time.Duration) {
			return PingResult{Reachable: true, Err: "ping.server.command did not finish in time"}, a.Timeout
		},
	}
	s.run(h, 2*time.Minute)
	if s.promoted {
		t.Fatalf("promoted on a ping.server.ip probe in doubt; notifications %v", s.notes)
	}
	if s.count(subject.PingInDoubt) == 0 {
		t.Errorf("no %q notification; got %v", subject.PingInDoubt, s.notes)
	}
	if n := s.count(subject.StandbyOrphaned); n != 0 {
		t.Errorf("a probe in doubt was reported as orphaned %d times", n)
	}
}

// TestPromoteBudgetCoversProbes: the coordinator waits for its candidate at
// least as long as the candidate's checks may take with their own probe
// deadlines, or it would start another failover while one is still running.
func TestPromoteBudgetCoversProbes(t *testing.T) {
	p := testParams()
	p.RemoteTimeout = 2 * time.Second
	p.CheckVIPTimeout = 3 * time.Second
	p.RecoveryCheckPeriod = time.Second
	p.ProbeTimeout = 6 * time.Second
	p.VIPConfigured = true
	n, err := New(p, Persisted{})
	if err != nil {
		t.Fatal(err)
	}
	vip := p.CheckVIPTimeout + p.RecoveryCheckPeriod + p.ProbeTimeout
	if got, min := n.promoteBudget(), 4*p.RemoteTimeout+vip+p.ProbeTimeout; got < min {
		t.Errorf("promoteBudget %v, want at least %v (VIP check %v, ping probe %v)", got, min, vip, p.ProbeTimeout)
	}
}

// TestCoordinatorThatIsTheCandidateEndsItsFailover: the coordinator that
// elected itself promotes, and its own failover ends with its promotion, as
// a MsgPromoted ends it on the other agents (the broadcast does not come
// back to the sender). Before, it waited out promoteBudget and then warned
// that the candidate "did not report its promotion in time".
func TestCoordinatorThatIsTheCandidateEndsItsFailover(t *testing.T) {
	h := loneCandidate(t, func(*Params) {})
	s := &probeShell{
		vip:  func(CheckVIP, int) (VIPResult, time.Duration) { return VIPResult{}, 10 * time.Millisecond },
		ping: freePing,
	}
	for i := 0; i < 1200 && !s.promoted; i++ {
		s.run(h, 100*time.Millisecond)
	}
	// From now on its database answers as the primary it became.
	h.probe = LocalDBProbe{Reachable: true, CurrentLSN: 200, Timeline: 2}
	s.run(h, h.n.promoteBudget()+time.Minute)
	if !s.promoted || h.n.Role() != RolePrimary {
		t.Fatalf("the lone candidate did not promote (role %s)", h.n.Role())
	}
	if h.n.failover != nil {
		t.Errorf("its own failover still runs after its promotion (phase %v)", h.n.failover.phase)
	}
	for _, a := range h.acts {
		if l, ok := a.(Log); ok && strings.Contains(l.Msg, "did not report its promotion") {
			t.Errorf("after its own promotion the coordinator logged %q", l.Msg)
		}
	}
}

// A probe issued before the promotion completed and answered after it read
// the database still in recovery: the new primary keeps its role and its
// lease. A probe issued after the promotion that finds it in recovery is a
// wrong state, as before. Found by TestSwitchoverAndBackWithPasswords: one
// such answer came 26 ms after pg_promote returned, the new primary resigned
// and went Idle with a writable database, and no failover could follow.
func TestProbeFromBeforeThePromotionIsNotAWrongState(t *testing.T) {
	h := loneCandidate(t, func(*Params) {})
	var stale uint64
	s := &probeShell{
		vip:  func(CheckVIP, int) (VIPResult, time.Duration) { return VIPResult{}, 10 * time.Millisecond },
		ping: freePing,
		// A probe goes out while pg_promote runs; its answer comes later.
		beforePromote: func() {
			h.n.out = nil
			h.n.probe(false)
			h.n.out = nil
			stale = h.n.local.inflight
		},
	}
	for i := 0; i < 1200 && !s.promoted; i++ {
		s.run(h, 100*time.Millisecond)
	}
	if !s.promoted || h.n.Role() != RolePrimary || stale == 0 {
		t.Fatalf("setup: promoted %v, role %s, stale probe %d", s.promoted, h.n.Role(), stale)
	}
	h.probe = LocalDBProbe{Reachable: true, CurrentLSN: 200, Timeline: 2}
	h.acts = nil
	h.now += 30 * time.Millisecond
	h.step(LocalDBProbe{Seq: stale, Reachable: true, InRecovery: true, ReplayLSN: 100, Timeline: 1})
	if h.n.Role() != RolePrimary || logged(h.acts, "lease resigned") {
		t.Fatalf("after a probe from before the promotion: role %s, resigned %v", h.n.Role(), logged(h.acts, "lease resigned"))
	}
	// A probe issued now that finds the database in recovery is a wrong state.
	h.probe = LocalDBProbe{Reachable: true, InRecovery: true, ReplayLSN: 100, Timeline: 2}
	h.advance(2 * time.Second)
	if h.n.Role() != RoleIdle || !logged(h.acts, "lease resigned") {
		t.Errorf("a primary found in recovery by a fresh probe: role %s, resigned %v; want Idle, resigned", h.n.Role(), logged(h.acts, "lease resigned"))
	}
}
