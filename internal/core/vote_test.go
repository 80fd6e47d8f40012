package core

import (
	"testing"
	"time"
)

// TestVoteDecision: one row per rule of voteDecision, in the order the rules
// are applied, then the cases where a rule does not apply. Each row starts
// from a promotable standby (10.0.0.3) following the primary 10.0.0.1 in
// epoch 1, with a WAL position read after the request arrived, asked to vote
// for 10.0.0.2 in epoch 2; the candidate is exactly as far as this standby.
func TestVoteDecision(t *testing.T) {
	const (
		self  = NodeID("10.0.0.3")
		cand  = NodeID("10.0.0.2")
		other = NodeID("10.0.0.4")
		now   = time.Hour
		since = now - time.Second
	)
	facts := func() voterFacts {
		return voterFacts{
			self: self, kind: KindDatabase, role: RoleStandby, promotable: true, now: now,
			epoch: 1,
			wal:   LocalDBProbe{Reachable: true, InRecovery: true, ReceivedLSN: 100, ReplayLSN: 100, Timeline: 2},
			// Read after the request arrived, with the receiver
			// detached after it too (detach.go).
			walReadAt: now,
			detach:    detachState{at: since, ok: true},
		}
	}
	request := func() Message {
		return Message{Type: MsgVoteReq, Epoch: 2, Target: cand, Status: &NodeStatus{Role: RoleStandby, Kind: KindDatabase, InRecovery: true, ReceivedLSN: 100, Timeline: 2}}
	}
	tests := []struct {
		name string
		// facts and req change the row's starting point.
		facts func(*voterFacts)
		req   func(*Message)
		// rule decided, with answer.
		rule   voteRule
		answer voteAnswer
	}{
		// ruleAskedAgain
		{name: "asked again for the candidate I voted for in that epoch: grant again, recording nothing",
			facts:  func(f *voterFacts) { f.epoch, f.votedEpoch, f.votedFor = 2, 2, cand },
			rule:   ruleAskedAgain,
			answer: voteGrantAgain},
		// ruleEpochNotAbove
		{name: "epoch not above the one I follow: refuse",
			facts:  func(f *voterFacts) { f.epoch = 2 },
			rule:   ruleEpochNotAbove,
			answer: voteRefuse},
		{name: "epoch below the one I follow: refuse",
			facts:  func(f *voterFacts) { f.epoch = 3 },
			rule:   ruleEpochNotAbove,
			answer: voteRefuse},
		{name: "another candidate in the epoch I voted in: refuse (one vote per epoch)",
			facts:  func(f *voterFacts) { f.epoch, f.votedEpoch, f.votedFor = 2, 2, other },
			rule:   ruleEpochNotAbove,
			answer: voteRefuse},
		{name: "epoch not above my vote, though I follow an older one: refuse",
			facts:  func(f *voterFacts) { f.votedEpoch, f.votedFor = 2, other },
			rule:   ruleEpochNotAbove,
			answer: voteRefuse},
		{name: "asked again for my vote while I hold the lease: no second answer, refuse",
			facts:  func(f *voterFacts) { f.epoch, f.votedEpoch, f.votedFor, f.holdsLease = 2, 2, cand, true },
			rule:   ruleEpochNotAbove,
			answer: voteRefuse},
		// ruleMyCandidacy
		{name: "I am promoting in my own epoch: refuse",
			facts:  func(f *voterFacts) { f.epoch, f.promoting, f.promotingEpoch = 1, true, 1 },
			rule:   ruleMyCandidacy,
			answer: voteRefuse},
		// ruleHoldingLease
		{name: "I hold the primary lease, the candidate is another node: defer",
			facts:  func(f *voterFacts) { f.holdsLease, f.wal.InRecovery, f.promotable = true, false, false },
			rule:   ruleHoldingLease,
			answer: voteDefer},
		{name: "I hold the primary lease and the candidate is me: grant",
			facts:  func(f *voterFacts) { f.holdsLease = true },
			req:    func(m *Message) { m.Target = self },
			rule:   ruleUpToDate,
			answer: voteGrant},
		// ruleLeaseHold
		{name: "I acknowledged another primary's lease within the vote hold: defer",
			facts:  func(f *voterFacts) { f.holdUntil, f.holdFor = now+time.Second, "10.0.0.1" },
			rule:   ruleLeaseHold,
			answer: voteDefer},
		{name: "my vote hold is for this candidate: no wait, grant",
			facts:  func(f *voterFacts) { f.holdUntil, f.holdFor = now+time.Second, cand },
			rule:   ruleUpToDate,
			answer: voteGrant},
		{name: "my vote hold ended just now: grant",
			facts:  func(f *voterFacts) { f.holdUntil, f.holdFor = now, "10.0.0.1" },
			rule:   ruleUpToDate,
			answer: voteGrant},
		{name: "vote hold switched off (test-only broken mode): grant",
			facts:  func(f *voterFacts) { f.holdUntil, f.holdFor, f.ignoreHold = now+time.Second, "10.0.0.1", true },
			rule:   ruleUpToDate,
			answer: voteGrant},
		// ruleOlderTimeline
		{name: "candidate on an older timeline than mine: refuse",
			req:    func(m *Message) { m.Status.Timeline, m.Status.ReceivedLSN = 1, 500 },
			rule:   ruleOlderTimeline,
			answer: voteRefuse},
		{name: "old primary, candidate on an older timeline than mine: refuse",
			facts: func(f *voterFacts) {
				f.role, f.promotable = RoleIdle, false
				f.wal = LocalDBProbe{Reachable: true, CurrentLSN: 500, Timeline: 2}
			},
			req:    func(m *Message) { m.Status.Timeline = 1 },
			rule:   ruleOlderTimeline,
			answer: voteRefuse},
		{name: "non-promotable standby, candidate on an older timeline than mine: refuse",
			facts:  func(f *voterFacts) { f.promotable = false },
			req:    func(m *Message) { m.Status.Timeline = 1 },
			rule:   ruleOlderTimeline,
			answer: voteRefuse},
		{name: "witness, candidate on any timeline: grant (a witness has no WAL)",
			facts: func(f *voterFacts) {
				f.kind, f.role, f.promotable, f.wal, f.walReadAt = KindWitness, RoleWitness, false, LocalDBProbe{}, 0
			},
			req:    func(m *Message) { m.Status.Timeline = 1 },
			rule:   ruleUpToDate,
			answer: voteGrant},
		{name: "candidate sent no status: no timeline or WAL to compare, grant",
			req:    func(m *Message) { m.Status = nil },
			rule:   ruleUpToDate,
			answer: voteGrant},
		// ruleWALNotRead
		{name: "my WAL position was read before the request arrived: read it first",
			facts:  func(f *voterFacts) { f.walReadAt = since - time.Millisecond },
			rule:   ruleWALNotRead,
			answer: voteReadWALFirst},
		{name: "my WAL position read at the very moment the request arrived: compare it",
			facts:  func(f *voterFacts) { f.walReadAt = since },
			rule:   ruleUpToDate,
			answer: voteGrant},
		{name: "standby whose last probe failed: read my WAL position first",
			facts:  func(f *voterFacts) { f.wal.Reachable = false },
			rule:   ruleWALNotRead,
			answer: voteReadWALFirst},
		{name: "agent just started, no probe answered yet: read my WAL position first",
			facts:  func(f *voterFacts) { f.role, f.wal, f.walReadAt = RoleUnknown, LocalDBProbe{}, 0 },
			rule:   ruleWALNotRead,
			answer: voteReadWALFirst},
		{name: "WAL receiver detached before the request arrived: detach again, then read",
			facts:  func(f *voterFacts) { f.detach.at = since - time.Millisecond },
			rule:   ruleWALNotRead,
			answer: voteReadWALFirst},
		{name: "WAL receiver never detached: detach, then read",
			facts:  func(f *voterFacts) { f.detach = detachState{} },
			rule:   ruleWALNotRead,
			answer: voteReadWALFirst},
		{name: "WAL position read before the detach: read it again",
			facts:  func(f *voterFacts) { f.walReadAt, f.detach.at = since, since+time.Millisecond },
			rule:   ruleWALNotRead,
			answer: voteReadWALFirst},
		{name: "idle standby agent whose receiver is not detached: detach, then read",
			facts:  func(f *voterFacts) { f.role, f.detach = RoleIdle, detachState{} },
			rule:   ruleWALNotRead,
			answer: voteReadWALFirst},
		{name: "idle standby agent whose database is unreachable: read it first (it may be stopped)",
			facts:  func(f *voterFacts) { f.role, f.wal.Reachable = RoleIdle, false },
			rule:   ruleWALNotRead,
			answer: voteReadWALFirst},
		{name: "idle agent whose WAL position was read before the request arrived: read it first",
			facts:  func(f *voterFacts) { f.role, f.walReadAt = RoleIdle, since-time.Millisecond },
			rule:   ruleWALNotRead,
			answer: voteReadWALFirst},
		// ruleWALUnreadable
		{name: "idle standby agent, a probe answered since, no position and no stopped data directory: refuse",
			facts:  func(f *voterFacts) { f.role, f.wal.Reachable, f.probedAt = RoleIdle, false, since },
			rule:   ruleWALUnreadable,
			answer: voteRefuse},
		{name: "primary agent whose database went into recovery, position not read since: refuse",
			facts:  func(f *voterFacts) { f.role, f.walReadAt = RolePrimary, since-time.Millisecond },
			rule:   ruleWALUnreadable,
			answer: voteRefuse},
		// ruleStoppedPrimary
		{name: "database stopped cleanly as a primary, read since the request: grant (old primary)",
			facts:  func(f *voterFacts) { stopped(f, ClusterShutDown, 2, 0, since) },
			req:    func(m *Message) { m.Status.ReceivedLSN = 50 },
			rule:   ruleStoppedPrimary,
			answer: voteGrant},
		{name: "database crashed as a primary, no probe since the agent started: grant (old primary)",
			facts: func(f *voterFacts) {
				f.role, f.wal, f.walReadAt = RoleIdle, LocalDBProbe{}, 0
				stopped(f, ClusterInProduction, 2, 0, now)
			},
			rule:   ruleStoppedPrimary,
			answer: voteGrant},
		{name: "stopped primary, last probe saw it in recovery (it promoted since): grant",
			facts:  func(f *voterFacts) { f.wal.Reachable = false; stopped(f, ClusterInProduction, 2, 0, now) },
			rule:   ruleStoppedPrimary,
			answer: voteGrant},
		// The timeline rule with a stopped directory's timeline.
		{name: "crashed as a primary after promoting, checkpoint still on the old timeline: the history file's timeline counts",
			facts: func(f *voterFacts) {
				f.role, f.wal, f.walReadAt = RoleIdle, LocalDBProbe{}, 0
				stopped(f, ClusterInProduction, 2, 3, now)
			},
			rule:   ruleOlderTimeline,
			answer: voteRefuse},
		{name: "stopped old primary, candidate on an older timeline than its checkpoint: refuse",
			facts:  func(f *voterFacts) { f.wal = LocalDBProbe{}; stopped(f, ClusterShutDown, 3, 0, now) },
			rule:   ruleOlderTimeline,
			answer: voteRefuse},
		{name: "stopped directory read before the request, on a newer timeline: the timeline rule still applies",
			facts: func(f *voterFacts) {
				f.wal.Reachable = false
				stopped(f, ClusterInArchiveRecovery, 2, 3, since-time.Second)
			},
			rule:   ruleOlderTimeline,
			answer: voteRefuse},
		// ruleStoppedStandby
		{name: "database stopped cleanly as a standby: refuse (received WAL unknown)",
			facts: func(f *voterFacts) {
				f.role, f.wal.Reachable = RoleIdle, false
				stopped(f, ClusterShutDownInRecovery, 2, 0, now)
			},
			rule:   ruleStoppedStandby,
			answer: voteRefuse},
		{name: "database crashed as a standby, last probe saw it out of recovery: refuse (it became a standby since)",
			facts: func(f *voterFacts) {
				f.role, f.wal = RoleIdle, LocalDBProbe{CurrentLSN: 500, Timeline: 2}
				stopped(f, ClusterInArchiveRecovery, 2, 0, now)
			},
			rule:   ruleStoppedStandby,
			answer: voteRefuse},
		// ruleStoppedStandbyAt
		{name: "stopped standby, its WAL end read from pg_wal, candidate as far: grant",
			facts: func(f *voterFacts) {
				f.role, f.wal.Reachable = RoleIdle, false
				stopped(f, ClusterInArchiveRecovery, 2, 2, now)
				f.stopped.WALEnd = 100
			},
			rule:   ruleStoppedStandbyAt,
			answer: voteGrant},
		{name: "stopped standby, its WAL end read from pg_wal, candidate on a newer timeline with less: grant",
			facts: func(f *voterFacts) {
				f.role, f.wal.Reachable = RoleIdle, false
				stopped(f, ClusterShutDownInRecovery, 2, 0, now)
				f.stopped.WALEnd = 500
			},
			req:    func(m *Message) { m.Status.Timeline = 3 },
			rule:   ruleStoppedStandbyAt,
			answer: voteGrant},
		{name: "stopped standby, its WAL end read from pg_wal, candidate received less: refuse",
			facts: func(f *voterFacts) {
				f.role, f.wal.Reachable = RoleIdle, false
				stopped(f, ClusterInArchiveRecovery, 2, 0, now)
				f.stopped.WALEnd = 101
			},
			rule:   ruleLessWAL,
			answer: voteRefuse},
		{name: "stopped standby, WAL end read but a newer timeline's history file: refuse (its WAL is in other files)",
			facts: func(f *voterFacts) {
				f.role, f.wal.Reachable = RoleIdle, false
				stopped(f, ClusterInArchiveRecovery, 1, 2, now)
				f.stopped.WALEnd = 50
			},
			rule:   ruleStoppedStandby,
			answer: voteRefuse},
		// ruleStoppedInDoubt
		{name: "database stopped while in crash recovery: refuse",
			facts:  func(f *voterFacts) { f.wal.Reachable = false; stopped(f, "in crash recovery", 2, 0, now) },
			rule:   ruleStoppedInDoubt,
			answer: voteRefuse},
		{name: "stopped \"in production\" with a backup_label (a base backup never started): refuse",
			facts: func(f *voterFacts) {
				f.wal = LocalDBProbe{}
				stopped(f, ClusterInProduction, 2, 0, now)
				f.stopped.BackupLabel = true
			},
			rule:   ruleStoppedInDoubt,
			answer: voteRefuse},
		{name: "stopped primary, candidate sent no timeline: refuse",
			facts:  func(f *voterFacts) { f.wal = LocalDBProbe{}; stopped(f, ClusterShutDown, 2, 0, now) },
			req:    func(m *Message) { m.Status = nil },
			rule:   ruleStoppedInDoubt,
			answer: voteRefuse},
		{name: "stopped primary read before the request: read again first",
			facts:  func(f *voterFacts) { f.wal = LocalDBProbe{}; stopped(f, ClusterShutDown, 2, 0, since-time.Millisecond) },
			rule:   ruleWALNotRead,
			answer: voteReadWALFirst},
		{name: "non-promotable standby whose database is stopped as a standby: grant (the WAL rule is not its)",
			facts: func(f *voterFacts) {
				f.promotable, f.wal.Reachable = false, false
				stopped(f, ClusterInArchiveRecovery, 2, 0, now)
			},
			rule:   ruleUpToDate,
			answer: voteGrant},
		// ruleLessWAL
		{name: "candidate received less WAL than me: refuse",
			req:    func(m *Message) { m.Status.ReceivedLSN = 99 },
			rule:   ruleLessWAL,
			answer: voteRefuse},
		{name: "non-promotable standby, candidate received less WAL than me: grant",
			facts:  func(f *voterFacts) { f.promotable = false },
			req:    func(m *Message) { m.Status.ReceivedLSN = 99 },
			rule:   ruleUpToDate,
			answer: voteGrant},
		{name: "old primary, candidate received less WAL than I wrote: grant (it cannot tell its unacknowledged tail)",
			facts: func(f *voterFacts) {
				f.role = RoleIdle
				f.wal = LocalDBProbe{Reachable: true, CurrentLSN: 500, ReceivedLSN: 500, Timeline: 2}
			},
			req:    func(m *Message) { m.Status.ReceivedLSN = 99 },
			rule:   ruleUpToDate,
			answer: voteGrant},
		{name: "candidate on a newer timeline with less WAL: grant",
			req:    func(m *Message) { m.Status.Timeline, m.Status.ReceivedLSN = 3, 50 },
			rule:   ruleUpToDate,
			answer: voteGrant},
		{name: "candidate received more WAL than me: grant",
			req:    func(m *Message) { m.Status.ReceivedLSN = 101 },
			rule:   ruleUpToDate,
			answer: voteGrant},
		// ruleUpToDate
		{name: "candidate as far as me, nothing against it: grant",
			rule:   ruleUpToDate,
			answer: voteGrant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, m := facts(), request()
			if tt.facts != nil {
				tt.facts(&f)
			}
			if tt.req != nil {
				tt.req(&m)
			}
			v := voteDecision(f, m, since)
			if v.rule != tt.rule || v.answer != tt.answer {
				t.Fatalf("decided by %q: %s (%q), want %q: %s", v.rule, v.answer, v.why, tt.rule, tt.answer)
			}
			// A refusal is sent with its reason and a deferral logged with
			// it; a grant has none.
			granted := v.answer == voteGrant || v.answer == voteGrantAgain
			if granted != (v.why == "") {
				t.Errorf("answer %s with reason %q", v.answer, v.why)
			}
		})
	}
}

// stopped gives f a data directory read at `at`, stopped in state, with its
// latest checkpoint on timeline tl and the newest history file for hist.
func stopped(f *voterFacts, state string, tl, hist uint32, at time.Duration) {
	f.stopped = StoppedDB{Read: true, State: state, CheckpointLSN: 80, CheckpointTimeline: tl, NewestHistory: hist}
	f.stoppedAt = at
}

// TestVoteReadsWALPositionFirst: the caller applies "read my WAL position
// first": it detaches the standby's WAL receiver, then reads its WAL
// position (a local probe) and decides the deferred request against that
// position, not the routine one.
func TestVoteReadsWALPositionFirst(t *testing.T) {
	tests := []struct {
		name    string
		candLSN LSN
		granted bool
	}{
		{name: "candidate as far as my fresh position: grant", candLSN: 200, granted: true},
		{name: "candidate past my routine position but behind my fresh one: refuse", candLSN: 150, granted: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "10.0.0.3", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1"}, standbyProbe,
				members(MemberAlive, MemberAlive, MemberAlive, MemberAlive)...)
			// As if the restart hold had run out: the WAL rule decides.
			h.n.voter.holdUntil = h.now
			// WAL received since the last routine probe (which read 100),
			// and the request arrives between two ticks.
			h.probe.ReceivedLSN = 200
			h.now += 10 * time.Millisecond
			h.acts = nil
			// The harness answers the probe at once: the vote must be
			// decided on that answer, not at a later routine probe.
			h.step(MessageReceived{From: "10.0.0.2", Msg: Message{Cluster: "c", Type: MsgVoteReq, Epoch: 2, Target: "10.0.0.2",
				Status: &NodeStatus{Role: RoleStandby, Kind: KindDatabase, InRecovery: true, ReceivedLSN: tt.candLSN, Timeline: standbyProbe.Timeline}}})
			// First the receiver is detached, and nothing is answered
			// before that is done.
			var detach *DoDB
			for _, a := range h.acts {
				switch a := a.(type) {
				case DoDB:
					if a.Op == OpDetachReceiver {
						detach = &a
					}
				case Send:
					if a.Msg.Type == MsgVoteResp {
						t.Fatalf("vote answered before the WAL receiver was detached: %+v", a)
					}
				}
			}
			if detach == nil {
				t.Fatal("no WAL receiver detach before the vote")
			}
			h.acts = nil
			h.step(DBOpResult{Seq: detach.Seq, OK: true})
			h.advance(100 * time.Millisecond)
			probed := false
			var resp []Send
			for _, a := range h.acts {
				switch a := a.(type) {
				case ProbeLocalDB:
					probed = probed || len(resp) == 0
				case Send:
					if a.Msg.Type == MsgVoteResp {
						resp = append(resp, a)
					}
				}
			}
			if !probed {
				t.Error("no WAL position read after the detach, before the vote was answered")
			}
			if len(resp) != 1 || resp[0].Msg.OK != tt.granted {
				t.Fatalf("answers %+v, want one with OK=%v", resp, tt.granted)
			}
		})
	}
}
