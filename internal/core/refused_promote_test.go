package core

import (
	"testing"
	"time"
)

// A node that cannot act on a promote order says so: it resigns the epoch
// it was elected in, to every member, so that its coordinator and its
// voters elect again at once. Chaos seed 9238: a node that had fenced its
// own promotion of an earlier epoch refused the next epoch's order without
// a word, and its coordinator waited out the promotion budget (77 s) with
// no primary in the cluster.
func TestRefusedPromoteOrderResignsTheEpoch(t *testing.T) {
	h := newHarness(t, "10.0.0.2", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1"}, standbyProbe,
		members(MemberDown, MemberAlive, MemberAlive, MemberAlive)...)
	// Its database stops answering: not a standby that can promote.
	h.probe = LocalDBProbe{Err: "connection refused"}
	h.advance(2 * time.Second)
	h.acts = nil
	h.step(MessageReceived{From: "10.0.0.3", Msg: Message{Cluster: "c", Type: MsgPromote, Epoch: 2, Target: "10.0.0.2", FailedPrimary: "10.0.0.1"}})
	h.advance(time.Second)
	res := broadcasts(h.acts, MsgResign)
	if len(res) != 1 || res[0].Epoch != 2 || res[0].Primary != "10.0.0.2" || res[0].Switchover {
		t.Fatalf("resignations %+v, want one of epoch 2 by 10.0.0.2", res)
	}
	if got := len(sent(h.acts, MsgResign)); got != 3 {
		t.Errorf("the resignation went to %d members, want all 3 others", got)
	}
	if n := len(sent(h.acts, MsgFailoverStart)); n != 0 || h.n.candidacy != nil || h.n.primaryOrPromoting() {
		t.Errorf("after refusing: %d failover-start messages, candidacy %v, role %s", n, h.n.candidacy != nil, h.n.Role())
	}
	// An order of an epoch it already moved past is stale, not refused:
	// the coordinator of that epoch is answered by the newer one.
	h.acts = nil
	h.step(MessageReceived{From: "10.0.0.3", Msg: Message{Cluster: "c", Type: MsgPromote, Epoch: 1, Target: "10.0.0.2"}})
	if res := sent(h.acts, MsgResign); len(res) != 0 {
		t.Errorf("a stale order was answered with %+v", res)
	}
}

// coordinateElection makes 10.0.0.2, standby of a cluster whose primary
// 10.0.0.1 is DOWN, coordinate `efm promote` (after prios) and elect want
// with the votes of 10.0.0.3 and the witness 10.0.0.4. Its own vote waits
// out the lease the failed primary may still hold, then detaches its WAL
// receiver (answered here as the shell would); the harness stops once done
// says so or a vote hold has passed. It returns the epoch of the election.
func coordinateElection(t *testing.T, prios map[NodeID]int, want NodeID, done func(*harness) bool) (*harness, uint64) {
	t.Helper()
	view := members(MemberDown, MemberAlive, MemberAlive, MemberAlive)
	h := newHarness(t, "10.0.0.2", KindDatabase, Persisted{Epoch: 1, Primary: "10.0.0.1"}, standbyProbe, view...)
	h.step(MembershipChanged{Members: view, Priorities: prios})
	h.promoteAnswered(true)
	h.advance(3 * time.Second) // past remote.timeout: decide on what answered
	reqs := sent(h.acts, MsgVoteReq)
	if len(reqs) == 0 || reqs[0].Msg.Target != want {
		t.Fatalf("vote requests %+v, want an election of %s", reqs, want)
	}
	epoch := reqs[0].Msg.Epoch
	for _, v := range []NodeID{"10.0.0.3", "10.0.0.4"} {
		h.step(MessageReceived{From: v, Msg: Message{Cluster: "c", Type: MsgVoteResp, Epoch: epoch, Target: want, Round: epoch, OK: true, Voters: 4}})
	}
	for end := h.now + h.n.tm.VoteHold + time.Second; h.now < end && !done(h); {
		for _, a := range h.advance(50 * time.Millisecond) {
			if d, ok := a.(DoDB); ok {
				h.step(DBOpResult{Seq: d.Seq, OK: true})
			}
		}
	}
	return h, epoch
}

// electThree: 10.0.0.2 coordinates the election of 10.0.0.3 (priority 1)
// and has sent it the promote order.
func electThree(t *testing.T) (*harness, uint64) {
	t.Helper()
	h, epoch := coordinateElection(t, map[NodeID]int{"10.0.0.3": 1}, "10.0.0.3", func(*harness) bool { return false })
	if ps := sent(h.acts, MsgPromote); len(ps) != 1 || ps[0].To != "10.0.0.3" {
		t.Fatalf("promote orders %+v, want one to 10.0.0.3", ps)
	}
	return h, epoch
}

// The coordinator whose candidate resigns gives its failover up at once and
// ends the hold its check round set on the others (as a failed election
// does since chaos seed 7043), instead of waiting out the promotion budget.
func TestCoordinatorGivesUpWhenItsCandidateResigns(t *testing.T) {
	h, epoch := electThree(t)
	h.acts = nil
	h.step(MessageReceived{From: "10.0.0.3", Msg: Message{Cluster: "c", Type: MsgResign, Epoch: epoch, Primary: "10.0.0.3",
		Reason: "promote order refused: 10.0.0.3 is not a healthy standby (role Idle)"}})
	if h.n.failover != nil {
		t.Fatalf("the failover still runs (phase %v) after its candidate resigned", h.n.failover.phase)
	}
	aborted := map[NodeID]bool{}
	for _, s := range sent(h.acts, MsgResumeReplay) {
		if s.Msg.Aborted {
			aborted[s.To] = true
		}
	}
	if !aborted["10.0.0.3"] || !aborted["10.0.0.4"] {
		t.Errorf("aborted resume-replay went to %v, want 10.0.0.3 and 10.0.0.4 (the members its check round held)", aborted)
	}
	// And it coordinates the next failover within a remote.timeout and a
	// check, not a promotion budget later.
	h.advance(h.n.p.RemoteTimeout + time.Second)
	if reqs := sent(h.acts, MsgCheckReq); len(reqs) == 0 {
		t.Errorf("no new check round within %v of the resignation", h.n.p.RemoteTimeout+time.Second)
	}
}

// A coordinator that elected itself gives its failover up as soon as its
// own candidacy ends without a promotion: its resignation goes to the
// others only. Chaos seed 9318: the candidate lost its lease round at once,
// and the coordinator, itself, waited out its promotion budget (79 s).
func TestCoordinatorGivesUpWhenItsOwnCandidacyEnds(t *testing.T) {
	h, _ := coordinateElection(t, nil, "10.0.0.2", func(h *harness) bool { return h.n.candidacy != nil })
	elected := h.n.candidacy != nil
	if !elected || h.n.failover == nil {
		t.Fatalf("10.0.0.2 did not become its own candidate (candidacy %v, failover %v)", h.n.candidacy != nil, h.n.failover != nil)
	}
	// Nobody acknowledges its lease round: the candidacy ends after a
	// remote.timeout, and the failover with it, not a promotion budget later.
	h.acts = nil
	h.advance(h.n.p.RemoteTimeout + time.Second)
	if h.n.candidacy != nil {
		t.Fatal("the candidacy outlived its lease round")
	}
	if h.n.failover != nil {
		t.Fatalf("its failover still waits (phase %v) for its own ended candidacy", h.n.failover.phase)
	}
	if !logged(h.acts, "own candidacy ended without a promotion; failover given up") {
		t.Error("the give-up was not logged")
	}
}
