package core

import "slices"

// Voter is one voting member this node has seen in a membership view, as
// persisted in Persisted.Voters.
type Voter struct {
	ID   NodeID `json:"id"`
	Kind Kind   `json:"kind"`
	// Left: its agent left cleanly; it no longer counts (after VoteHold)
	// but stays known, so that a restarted node still knows the primary
	// agent left rather than never having heard of it.
	Left bool `json:"left,omitempty"`
}

// The persisted voter set.
//
// Why: a (re)started agent's membership layer knows nobody until a join
// succeeds, so its first views hold only itself. Counting voters in that view
// alone, a standby restarted while cut off from every other agent would win a
// "strict majority" of one and promote beside a live primary, and a primary
// restarted alone would renew its lease with its own acknowledgement.
//
// Rule: every voting member seen in a view joins Persisted.Voters, written
// with a Persist action when the set changes. A persisted voter absent from
// the current view counts as a voter in state DOWN, until a view shows it
// again. A view reporting it MemberLeft (a clean agent stop) marks it left:
// it stops counting VoteHold later (see counts), also across a restart, but
// stays known as left, so that a restarted node still applies "the primary
// agent left: no failover" instead of taking the primary for a stranger.
// It leaves the set only when a view following efm reset-members (a
// MembershipChanged.ResetGen above Persisted.ResetGen) does not show it: the
// membership layer's reset drops every DOWN member. A generation, not a
// flag, so that a node stopped during the reset applies it once at its first
// joined view, and a restart does not apply an old reset again. With nothing
// persisted (the cluster's very first start) nothing changes: the primary
// agent may still start alone and count itself only, which is how a cluster
// bootstraps.
//
// A member the view shows left but that sends messages counts as a voter
// until a view reports it again (peer.heardLeft): a lagging view must not
// shrink the count either.
//
// Vote counting, lease acknowledgements and failover decisions all read
// numVoters, so they all count these DOWN voters alike.

// knownVoter reports whether id is in the persisted voter set, and whether
// it is there as left.
func (n *Node) knownVoter(id NodeID) (known, left bool) {
	i := slices.IndexFunc(n.st.Voters, func(v Voter) bool { return v.ID == id })
	if i < 0 {
		return false, false
	}
	return true, n.st.Voters[i].Left
}

// rememberVoter adds m to the persisted set; it reports whether it changed.
// A member reported MemberLeft is stored as left.
func (n *Node) rememberVoter(m Member) bool {
	left := m.State == MemberLeft
	for i, v := range n.st.Voters {
		if v.ID == m.ID {
			w := v
			if m.Kind != 0 {
				w.Kind = m.Kind
			}
			w.Left = left
			n.st.Voters[i] = w
			return w != v
		}
	}
	n.st.Voters = append(n.st.Voters, Voter{ID: m.ID, Kind: m.Kind, Left: left})
	slices.SortFunc(n.st.Voters, func(a, b Voter) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return true
}

// forgetVoter drops id from the persisted set; it reports whether it changed.
func (n *Node) forgetVoter(id NodeID) bool {
	before := len(n.st.Voters)
	n.st.Voters = slices.DeleteFunc(n.st.Voters, func(v Voter) bool { return v.ID == id })
	if len(n.st.Voters) == 0 {
		n.st.Voters = nil
	}
	return len(n.st.Voters) != before
}

// restoreVoters is called by New: every persisted voter counts, DOWN, until
// a view shows it; those that left are known as left.
func (n *Node) restoreVoters() {
	for _, v := range n.st.Voters {
		if v.ID == n.p.Self {
			continue
		}
		st := MemberDown
		if v.Left {
			st = MemberLeft
		}
		n.addMember(Member{ID: v.ID, Kind: v.Kind, State: st})
	}
}

// restartLeftHolds: members restored as left count for one more VoteHold
// from the start, as if seen leaving then (conservative; see counts).
func (n *Node) restartLeftHolds() {
	for _, p := range n.members {
		if p.member.State == MemberLeft {
			p.leftAt = n.now
		}
	}
}
