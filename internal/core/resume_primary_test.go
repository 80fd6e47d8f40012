package core

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestResumeVote: a voter grants an isolated primary's resume request only
// when the newest epoch it knows names that node as primary and it voted
// in no later epoch; the rules every vote obeys come first.
func TestResumeVote(t *testing.T) {
	const (
		self = NodeID("10.0.0.3")
		old  = NodeID("10.0.0.1")
		y    = NodeID("10.0.0.2")
		now  = time.Hour
	)
	base := func() voterFacts {
		return voterFacts{self: self, kind: KindDatabase, role: RoleStandby, promotable: true, now: now, epoch: 1, primary: old,
			// A WAL position far ahead of the resuming node's: the WAL
			// rules do not apply to a resume request.
			wal: LocalDBProbe{Reachable: true, InRecovery: true, ReceivedLSN: 900, Timeline: 3}, walReadAt: now}
	}
	req := Message{Type: MsgVoteReq, Epoch: 2, Target: old, Resume: true,
		Status: &NodeStatus{Role: RoleIdle, Kind: KindDatabase, InRecovery: true, ReceivedLSN: 100, Timeline: 1}}
	tests := []struct {
		name   string
		facts  func(*voterFacts)
		epoch  uint64
		rule   voteRule
		answer voteAnswer
	}{
		{name: "its epoch is still the newest I know: grant", rule: ruleNoNewerPrimary, answer: voteGrant},
		{name: "after a failed attempt of its own (I granted it epoch 2): grant epoch 3",
			facts: func(f *voterFacts) { f.epoch, f.votedEpoch, f.votedFor = 2, 2, old }, epoch: 3, rule: ruleNoNewerPrimary, answer: voteGrant},
		{name: "another node is the primary of my newest epoch: refuse",
			facts: func(f *voterFacts) { f.epoch, f.primary = 2, y }, epoch: 3, rule: ruleNewerPrimary, answer: voteRefuse},
		{name: "I voted for another candidate in a later epoch (never promoted): refuse",
			facts: func(f *voterFacts) { f.epoch, f.votedEpoch, f.votedFor, f.primary = 1, 2, y, old }, epoch: 3, rule: ruleNewerPrimary, answer: voteRefuse},
		{name: "epoch not above the one I follow: refuse as any vote",
			facts: func(f *voterFacts) { f.epoch = 2 }, epoch: 2, rule: ruleEpochNotAbove, answer: voteRefuse},
		{name: "I acknowledged another primary's lease: defer as any vote",
			facts: func(f *voterFacts) { f.holdUntil, f.holdFor = now+time.Second, y }, rule: ruleLeaseHold, answer: voteDefer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := base()
			if tt.facts != nil {
				tt.facts(&f)
			}
			m := req
			if tt.epoch != 0 {
				m.Epoch = tt.epoch
			}
			v := voteDecision(f, m, now)
			if v.rule != tt.rule || v.answer != tt.answer {
				t.Fatalf("got %s (%s: %s), want %s (%s)", v.answer, v.rule, v.why, tt.answer, tt.rule)
			}
			// The same request without Resume is an ordinary vote, refused
			// here for its older timeline or less WAL when the voter's
			// newest epoch is the resuming node's.
			if tt.rule == ruleNoNewerPrimary {
				m.Resume = false
				if v := voteDecision(f, m, now); v.answer == voteGrant {
					t.Errorf("without Resume the vote is granted too (%s): the resume rule is not what decided", v.rule)
				}
			}
		})
	}
}

// isolatedPrimary is 10.0.0.1, the primary of epoch 1, whose lease ran out
// while nobody answered: it fenced itself, its database stopped (the
// probe answers dbDown), and it is Idle; 10.0.0.2 and 10.0.0.3 are the
// others. Then its database answers probe (started in recovery).
func isolatedPrimary(t *testing.T, probe LocalDBProbe) *harness {
	return isolatedPrimaryOf(t, 1, probe)
}

// isolatedPrimaryOf is isolatedPrimary in epoch (0: the cluster's first).
func isolatedPrimaryOf(t *testing.T, epoch uint64, probe LocalDBProbe) *harness {
	t.Helper()
	h := healHarness(t, Persisted{Epoch: epoch, Primary: oldPrimary}, LocalDBProbe{Reachable: true, Timeline: 1, CurrentLSN: 500},
		func(p *Params) { p.AutoRewind = false })
	if h.n.Role() != RolePrimary {
		t.Fatalf("role %s at start, want Primary", h.n.Role())
	}
	h.advance(8 * time.Second)
	if h.n.Role() != RoleIdle || !h.n.Persisted().Fenced {
		t.Fatalf("after the lease ran out: role %s, persisted %+v", h.n.Role(), h.n.Persisted())
	}
	h.probe = dbDown
	h.advance(time.Second)
	h.probe = probe
	return h
}

// heal: the others are heard again in the node's epoch, until it asks.
func (h *harness) heal() {
	e := h.n.Persisted().Epoch
	for i := 0; i < 10 && len(resumeRequests(h.acts)) == 0; i++ {
		h.step(heartbeat(newPrimary, e, oldPrimary, RoleStandby))
		h.advance(time.Second)
	}
}

func heartbeat(from NodeID, epoch uint64, primary NodeID, role Role) MessageReceived {
	return MessageReceived{From: from, Msg: Message{V: ProtocolVersion, Cluster: "c", Type: MsgHeartbeat, From: from, Epoch: epoch, Primary: primary,
		Status: &NodeStatus{Role: role, Kind: KindDatabase, DBReachable: true, InRecovery: true}}}
}

func resumeRequests(acts []Action) []Message {
	var out []Message
	for _, m := range broadcasts(acts, MsgVoteReq) {
		if m.Resume {
			out = append(out, m)
		}
	}
	return out
}

// TestIsolatedPrimaryResumes: back with a majority in its own epoch, the
// fenced primary asks for a new epoch, and with a majority of grants
// promotes its database (in recovery behind its fence) as a candidate
// does, then is Primary, unfenced, and says so.
func TestIsolatedPrimaryResumes(t *testing.T) {
	for _, epoch := range []uint64{0, 1} {
		t.Run(fmt.Sprintf("epoch %d", epoch), func(t *testing.T) { testIsolatedPrimaryResumes(t, epoch) })
	}
}

func testIsolatedPrimaryResumes(t *testing.T, e0 uint64) {
	h := isolatedPrimaryOf(t, e0, LocalDBProbe{Reachable: true, InRecovery: true, Timeline: 1, ReplayLSN: 500})
	start0 := len(h.acts)
	h.heal()
	starts := 0
	for _, a := range h.acts[start0:] {
		if d, ok := a.(DoDB); ok && d.Op == OpStartDB {
			starts++
		}
	}
	if starts != 1 {
		t.Errorf("%d database starts before asking, want 1 (in recovery, behind its fence)", starts)
	}
	reqs := resumeRequests(h.acts)
	e := e0 + 1
	if len(reqs) != 1 || reqs[0].Epoch != e || reqs[0].Target != oldPrimary {
		t.Fatalf("resume requests %+v, want one for epoch %d", reqs, e)
	}
	if st := h.n.Persisted(); st.VotedEpoch != e || st.VotedFor != oldPrimary {
		t.Fatalf("own vote not persisted: %+v", st)
	}
	h.step(MessageReceived{From: newPrimary, Msg: Message{V: ProtocolVersion, Cluster: "c", Type: MsgVoteResp, From: newPrimary, Epoch: e, Target: oldPrimary, Round: e, OK: true, Voters: 3}})
	if h.n.Role() != RolePromoting {
		t.Fatalf("role %s after a majority of grants, want Promoting", h.n.Role())
	}
	// Its lease of epoch 2, acknowledged by the voter, then pg_ctl promote.
	start := len(h.acts)
	for _, r := range rounds(h.acts) {
		h.step(MessageReceived{From: newPrimary, Msg: Message{V: ProtocolVersion, Cluster: "c", Type: MsgLeaseAck, From: newPrimary, Epoch: e, Round: r.Round, OK: true}})
	}
	h.advance(100 * time.Millisecond)
	var promote *DoDB
	for _, a := range h.acts[start:] {
		if d, ok := a.(DoDB); ok && d.Op == OpPromoteDB {
			promote = &d
		}
		if s, ok := a.(RunScript); ok && s.Script == ScriptFence {
			t.Errorf("script.fence ran for a resume: %+v", s)
		}
	}
	if promote == nil {
		t.Fatalf("no promotion after the lease: %v", h.acts[start:])
	}
	// Its database is in recovery on timeline 1: the promotion creates a
	// timeline, reserved as any candidate's is, and named in its lease
	// round before any voter acknowledges it.
	if promote.Timeline != 2 {
		t.Errorf("resume promotes to at least timeline %d, want 2 (reserved above 1)", promote.Timeline)
	}
	for _, r := range rounds(h.acts) {
		if r.Epoch == e && r.Timeline != 2 {
			t.Errorf("lease round %d names timeline %d, want the reserved 2", r.Round, r.Timeline)
		}
	}
	h.probe = LocalDBProbe{Reachable: true, Timeline: 2, CurrentLSN: 600}
	start = len(h.acts)
	h.step(DBOpResult{Seq: promote.Seq, OK: true})
	h.advance(100 * time.Millisecond)
	if h.n.Role() != RolePrimary || h.n.Persisted().Fenced || h.n.Persisted().Epoch != e {
		t.Fatalf("after the promotion: role %s, persisted %+v", h.n.Role(), h.n.Persisted())
	}
	ns := strings.Join(notes(h.acts[start:]), "\n")
	if !strings.Contains(ns, "Node no longer isolated") || strings.Contains(ns, "Failover has completed") {
		t.Errorf("notifications %q: want the resume, not a failover", ns)
	}
}

// TestIsolatedPrimaryStaysFenced: each reason not to ask.
func TestIsolatedPrimaryStaysFenced(t *testing.T) {
	inRec := LocalDBProbe{Reachable: true, InRecovery: true, Timeline: 1}
	t.Run("a peer is in a newer epoch", func(t *testing.T) {
		h := isolatedPrimary(t, inRec)
		for i := 0; i < 10; i++ {
			h.step(heartbeat(newPrimary, 2, thirdNode, RoleStandby))
			h.advance(time.Second)
		}
		if r := resumeRequests(h.acts); len(r) != 0 {
			t.Fatalf("asked %+v", r)
		}
	})
	t.Run("no majority heard", func(t *testing.T) {
		h := isolatedPrimary(t, inRec)
		h.advance(10 * time.Second)
		if r := resumeRequests(h.acts); len(r) != 0 {
			t.Fatalf("asked %+v", r)
		}
	})
	t.Run("a peer follows another primary in the same epoch", func(t *testing.T) {
		h := isolatedPrimary(t, inRec)
		for i := 0; i < 10; i++ {
			h.step(heartbeat(newPrimary, 1, thirdNode, RoleStandby))
			h.advance(time.Second)
		}
		if r := resumeRequests(h.acts); len(r) != 0 {
			t.Fatalf("asked %+v", r)
		}
	})
	t.Run("peers heard only before it was cut off", func(t *testing.T) {
		h := healHarness(t, Persisted{Epoch: 1, Primary: oldPrimary}, LocalDBProbe{Reachable: true, Timeline: 1, CurrentLSN: 500},
			func(p *Params) { p.AutoRewind = false })
		h.step(heartbeat(newPrimary, 1, oldPrimary, RoleStandby))
		h.advance(8 * time.Second) // its lease runs out: fenced
		h.probe = inRec
		h.advance(time.Second)
		if h.n.Role() != RoleIdle || !h.n.Persisted().Fenced {
			t.Fatalf("role %s persisted %+v", h.n.Role(), h.n.Persisted())
		}
		if r := resumeRequests(h.acts); len(r) != 0 || h.n.Persisted().VotedEpoch != 0 {
			t.Fatalf("asked %+v (persisted %+v): an isolated node burns an epoch", r, h.n.Persisted())
		}
	})
	t.Run("a newer primary renews: the rejoin's business", func(t *testing.T) {
		h := isolatedPrimary(t, inRec)
		h.step(renewal(newPrimary, 2, RolePrimary, false))
		h.advance(time.Second)
		if r := resumeRequests(h.acts); len(r) != 0 || h.n.Persisted().Primary != newPrimary {
			t.Fatalf("asked %+v (persisted %+v)", r, h.n.Persisted())
		}
	})
	t.Run("database does not start: no request", func(t *testing.T) {
		h := isolatedPrimary(t, dbDown)
		h.heal()
		if r := resumeRequests(h.acts); len(r) != 0 {
			t.Fatalf("asked %+v with the database down", r)
		}
	})
	t.Run("fenced for a failed database, not isolation: no request", func(t *testing.T) {
		h := healHarness(t, Persisted{Epoch: 1, Primary: oldPrimary}, LocalDBProbe{Reachable: true, Timeline: 1, CurrentLSN: 500},
			func(p *Params) { p.AutoRewind = false })
		h.step(heartbeat(newPrimary, 1, oldPrimary, RoleStandby))
		h.probe = dbDown // nobody else reaches it either: a database failure
		h.advance(10 * time.Second)
		if h.n.Role() != RoleIdle || !h.n.Persisted().Fenced {
			t.Fatalf("role %s persisted %+v", h.n.Role(), h.n.Persisted())
		}
		h.probe = inRec
		h.heal()
		if r := resumeRequests(h.acts); len(r) != 0 {
			t.Fatalf("asked %+v after a database failure", r)
		}
	})
	t.Run("refused by the majority: stays fenced and Idle", func(t *testing.T) {
		h := isolatedPrimary(t, inRec)
		h.heal()
		reqs := resumeRequests(h.acts)
		if len(reqs) != 1 {
			t.Fatalf("requests %+v", reqs)
		}
		h.step(MessageReceived{From: newPrimary, Msg: Message{V: ProtocolVersion, Cluster: "c", Type: MsgVoteResp, From: newPrimary, Epoch: 2, Target: oldPrimary, Round: 2, Reason: "another primary since", Voters: 3}})
		h.step(MessageReceived{From: thirdNode, Msg: Message{V: ProtocolVersion, Cluster: "c", Type: MsgVoteResp, From: thirdNode, Epoch: 2, Target: oldPrimary, Round: 2, Reason: "another primary since", Voters: 3}})
		h.advance(time.Second)
		if h.n.Role() != RoleIdle || !h.n.Persisted().Fenced {
			t.Fatalf("role %s fenced %v", h.n.Role(), h.n.Persisted().Fenced)
		}
	})
}
