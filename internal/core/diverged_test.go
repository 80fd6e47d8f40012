package core

import (
	"strings"
	"testing"
	"time"
)

// TestStuckStandbyIsRecheckedAndDivergedRebuilt: a standby that believes
// it follows the live primary but has not streamed from it for
// StuckStandbyAfter is re-pointed; a follow answered Diverged fences it,
// says so, and (auto.rewind) the rejoin rebuilds it. One that streams is
// left alone; without auto.rewind/auto.basebackup it is fenced and the
// notification says to rebuild it by hand.
func TestStuckStandbyIsRecheckedAndDivergedRebuilt(t *testing.T) {
	following := Persisted{Epoch: 2, Primary: newPrimary}
	probe := func(receiver string) LocalDBProbe {
		return LocalDBProbe{Reachable: true, InRecovery: true, Timeline: 1, ReceivedLSN: 900, ReplayLSN: 900, Upstream: newPrimary, WALReceiver: receiver}
	}
	// live keeps the primary's renewals coming while time passes.
	live := func(h *harness, d time.Duration) {
		for end := h.now + d; h.now < end; {
			h.keepPrimaryAlive(2)
			h.advance(time.Second)
		}
	}
	follows := func(acts []Action) []FollowPrimary {
		var out []FollowPrimary
		for _, a := range acts {
			if f, ok := a.(FollowPrimary); ok {
				out = append(out, f)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		receiver string
		rewind   bool
		want     string // "": no follow; else the notification's hint
	}{
		{name: "streaming: left alone", receiver: "streaming", rewind: true},
		{name: "receiver hidden (no privilege): cannot tell, left alone", receiver: WALReceiverHidden, rewind: true},
		{name: "not streaming, auto.rewind: re-pointed, fenced, rebuilt", receiver: "waiting", rewind: true, want: "It is rebuilt"},
		{name: "not streaming, no auto.rewind: fenced, rebuild by hand", receiver: "waiting", want: "rebuild it by hand"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := healHarness(t, following, probe(tc.receiver), func(p *Params) { p.AutoRewind = tc.rewind })
			live(h, 2*time.Second)
			if h.n.Role() != RoleStandby {
				t.Fatalf("role %s, want Standby", h.n.Role())
			}
			live(h, StuckStandbyAfter(h.n.p)-3*time.Second)
			if f := follows(h.acts); len(f) > 0 {
				t.Fatalf("re-pointed before StuckStandbyAfter: %+v", f)
			}
			live(h, 3*time.Second)
			f := follows(h.acts)
			if tc.want == "" {
				if len(f) > 0 {
					t.Fatalf("re-pointed: %+v", f)
				}
				return
			}
			if len(f) != 1 || f[0].Primary != newPrimary {
				t.Fatalf("follows %+v, want one to %s", f, newPrimary)
			}
			h.acts = nil
			h.step(DBOpResult{Seq: f[0].Seq, Err: "cannot stream from 10.0.0.2: WAL past the fork point", Diverged: true})
			got := strings.Join(notes(h.acts), "\n")
			if !strings.Contains(got, "Standby database has WAL the primary lacks") {
				t.Errorf("notifications %q, want the diverged standby's", got)
			}
			if h.n.Role() != RoleIdle || !h.n.st.Fenced {
				t.Fatalf("role %s fenced %v, want Idle and fenced", h.n.Role(), h.n.st.Fenced)
			}
			live(h, 2*time.Second)
			if n := len(rejoins(h.acts)); (n == 1) != tc.rewind {
				t.Errorf("%d RejoinDB with auto.rewind=%v", n, tc.rewind)
			}
		})
	}
}

// TestFencedOldPrimaryCoordinatesWhenANewerEpochExists: an isolated old
// primary, fenced and waiting to resume by EFM 4.5's rule, is the smallest
// id and so the coordinator. Once it hears the others follow a newer epoch
// naming another node (an election there failed: that node is no primary),
// it must stop waiting to resume and coordinate a failover; before, it
// neither resumed (no majority in its epoch) nor suspected its own role,
// and nobody else coordinated (chaos seed 2000: no primary for 150 s).
func TestFencedOldPrimaryCoordinatesWhenANewerEpochExists(t *testing.T) {
	// Its database started in recovery for the resume, as the shell does.
	inRec := LocalDBProbe{Reachable: true, InRecovery: true, Timeline: 1, ReceivedLSN: 900, ReplayLSN: 900}
	h := healHarness(t, Persisted{Epoch: 0, Primary: oldPrimary}, inRec, nil)
	// As fenceSelf leaves an isolated primary.
	h.n.st.Fenced = true
	h.n.heal.resume.isolated, h.n.heal.resume.fencedAt = true, h.now
	h.n.becomeIdle(idleFenced)
	// What its start made of a primary found in recovery is not the
	// point here.
	h.n.failover, h.n.watch.suspect = nil, 0
	status := func(from NodeID, kind Kind, role Role) MessageReceived {
		return MessageReceived{From: from, Msg: Message{V: ProtocolVersion, Cluster: "c", Type: MsgHeartbeat, From: from, Epoch: 1,
			Primary: newPrimary, Status: &NodeStatus{Role: role, Kind: kind, DBReachable: kind == KindDatabase, InRecovery: true, Timeline: 1}}}
	}
	h.acts = nil
	if !h.n.resumeCandidate() {
		t.Fatalf("set-up: not a resume candidate (role %s)", h.n.role)
	}
	for range 20 {
		h.step(status(newPrimary, KindDatabase, RoleStandby))
		h.step(status(thirdNode, KindWitness, RoleWitness))
		h.advance(500 * time.Millisecond)
	}
	checks := 0
	for _, a := range h.acts {
		if s, ok := a.(Send); ok && s.Msg.Type == MsgCheckReq {
			checks++
		}
	}
	if checks == 0 {
		t.Fatalf("the fenced old primary (the coordinator) started no failover check in 10 s while the others follow epoch 1 of %s", newPrimary)
	}
}
