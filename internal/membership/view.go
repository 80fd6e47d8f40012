package membership

import (
	"cmp"
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// reachableLocked: a heartbeat round trip that started less than W ago.
// Counting from the send, never the reply, is what makes the bound in
// timing.go hold whatever the message delay.
func (m *Membership) reachableLocked(p *peer, now time.Time) bool {
	return !p.lastRT.IsZero() && now.Sub(p.lastRT) < m.t.Window
}

// shownLocked is the state a peer is displayed with. DOWN is decided by
// the heartbeat alone: memberlist's "dead" is not needed for the bound
// (its suspicion timeout is ≈ T > W) and, trusted on its own, it lets a
// node that was isolated spread stale death rumours about healthy ones
// after a heal (field-notes.md §2), which would flap the view.
func (m *Membership) shownLocked(p *peer, now time.Time) string {
	up := m.reachableLocked(p, now) ||
		// A member just (re)joined gets one window to answer a heartbeat
		// before it is shown DOWN; it does not count as reachable yet.
		(p.mlAlive && now.Sub(p.firstSeen) < m.t.Window)
	if !up {
		return StateDown
	}
	if p.meta.State == "" {
		return defaultState(p.meta.Kind)
	}
	return p.meta.State
}

// membersLocked builds the member list (self included), updating each
// member's Since.
func (m *Membership) membersLocked(now time.Time) []Member {
	out := make([]Member, 0, len(m.peers)+1)
	out = append(out, Member{
		Name: m.cfg.name, Addr: m.cfg.selfAddr(), Kind: m.cfg.Kind, State: m.self.State,
		Voting: true, Reachable: true, Self: true, Since: m.selfSince,
	})
	for name, p := range m.peers {
		s := m.shownLocked(p, now)
		if s != p.shown {
			p.shown, p.since = s, now
		}
		out = append(out, Member{
			Name: name, Addr: p.addr, Kind: p.meta.Kind, State: s, Voting: true,
			Reachable: m.reachableLocked(p, now), Since: p.since,
		})
	}
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func (m *Membership) quorumLocked(now time.Time) Quorum {
	q := Quorum{Voters: 1 + len(m.peers), Reachable: 1}
	for _, p := range m.peers {
		if m.reachableLocked(p, now) {
			q.Reachable++
		}
	}
	q.Majority = 2*q.Reachable > q.Voters
	q.Half = 2*q.Reachable == q.Voters
	class := 0
	if q.Majority {
		class = 2
	} else if q.Half {
		class = 1
	}
	if class != m.qClass {
		m.qClass, m.qSince = class, now
	}
	q.Since = m.qSince
	q.Settled = m.joined && m.state.Version > 0
	return q
}

// Members returns every member (this node included), sorted by name.
func (m *Membership) Members() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.membersLocked(time.Now())
}

// Quorum returns this node's view of the voting members, computed now.
func (m *Membership) Quorum() Quorum {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.quorumLocked(time.Now())
}

// AnsweredAt is when this node last acknowledged a heartbeat of the named
// member (zero if never): that member may count this node as reachable
// until AnsweredAt + IsolationBound (on its clock; add a drift margin).
func (m *Membership) AnsweredAt(name string) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.answered[name]
}

// coordinatorLocked is the oldest live member by (Started, name) among
// this node and the peers it shows neither DOWN nor refused.
func (m *Membership) coordinatorLocked(now time.Time) string {
	best, bestT := m.cfg.name, m.self.Started
	for name, p := range m.peers {
		if m.shownLocked(p, now) == StateDown {
			continue
		}
		if m.state.Version > 0 && !m.state.allowed(name) {
			continue
		}
		if p.meta.Started < bestT || (p.meta.Started == bestT && name < best) {
			best, bestT = name, p.meta.Started
		}
	}
	return best
}

// Coordinator is the membership coordinator as this node sees it.
func (m *Membership) Coordinator() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.coordinatorLocked(time.Now())
}

// Allowed is the allowed node host list.
func (m *Membership) Allowed() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.state.Allowed)
}

// Priorities are the efm set-priority values of the cluster, by node name.
func (m *Membership) Priorities() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.state.Priorities)
}

// Status is everything `efm cluster-status` needs from membership.
type Status struct {
	Cluster     string
	Self        string
	Members     []Member
	Quorum      Quorum
	Allowed     []string
	Coordinator string
	Priorities  map[string]int // efm set-priority values by node name
	Version     uint64         // shared state version; 0: none loaded or seeded yet
	// Seeded: this node created the shared state as the first member (it
	// reached no address of its .nodes file at start).
	Seeded bool
	// Left are members seen leaving cleanly (not in Members); ResetGen
	// counts efm reset-members runs. The failover core keeps the voters it
	// has known across restarts and needs both to forget them correctly.
	Left     []string
	ResetGen uint64
}

// Status snapshots members, quorum and shared state at one instant.
func (m *Membership) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	return Status{
		Cluster: m.cfg.Cluster, Self: m.cfg.name,
		Members: m.membersLocked(now), Quorum: m.quorumLocked(now),
		Allowed: slices.Clone(m.state.Allowed), Coordinator: m.coordinatorLocked(now),
		Priorities: maps.Clone(m.state.Priorities), Version: m.state.Version, Seeded: m.seeded,
		Left: slices.Clone(m.state.Left), ResetGen: m.state.ResetGen,
	}
}

// sendHeartbeats sends one request to every peer (DOWN ones too: that is
// how a healed link is noticed) and forgets requests older than W.
func (m *Membership) sendHeartbeats() {
	now := time.Now()
	m.mu.Lock()
	if m.leaving {
		m.mu.Unlock()
		return
	}
	for seq, hb := range m.pending {
		if now.Sub(hb.sent) > m.t.Window {
			delete(m.pending, seq)
		}
	}
	for name, at := range m.rejectSent {
		if now.Sub(at) > time.Minute {
			delete(m.rejectSent, name)
		}
	}
	var ts []target
	seqs := map[string]uint64{}
	for name, p := range m.peers {
		m.seq++
		m.pending[m.seq] = pendingHB{to: name, sent: now}
		seqs[name] = m.seq
		ts = append(ts, target{name, p.addr})
	}
	m.mu.Unlock()
	self := m.cfg.selfAddr()
	for _, t := range ts {
		body, _ := json.Marshal(hbPing{Seq: seqs[t.name], Addr: self})
		n, err := nodeFor(t.name, t.addr)
		if err != nil {
			continue
		}
		if err := m.list().SendBestEffort(n, encode(msgPing, m.cfg.name, body)); err != nil {
			m.log.Debug("sending heartbeat", "to", t.name, "err", err)
		}
	}
}
