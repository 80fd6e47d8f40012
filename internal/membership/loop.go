package membership

import (
	"net/netip"
	"slices"
	"strings"
	"time"
)

// loop sends heartbeats every h, re-joins lost addresses every Rejoin and
// re-evaluates the view (events, coordinator duties, .nodes file) on every
// tick and whenever memberlist reports a change.
func (m *Membership) loop() {
	defer m.wg.Done()
	hb := time.NewTicker(m.t.Heartbeat)
	defer hb.Stop()
	rj := time.NewTicker(m.t.Rejoin)
	defer rj.Stop()
	for {
		select {
		case <-m.done:
			return
		case <-hb.C:
			m.sendHeartbeats()
			m.evaluate()
		case <-m.kick:
			m.evaluate()
		case <-rj.C:
			m.rejoin()
		}
	}
}

// evaluate emits events for what changed since the last call, runs the
// coordinator's duties when this node is the coordinator, and rewrites the
// .nodes file on membership change.
func (m *Membership) evaluate() {
	now := time.Now()
	var events []Event
	m.mu.Lock()
	members := m.membersLocked(now)
	q := m.quorumLocked(now)
	seen := map[string]bool{}
	for _, mem := range members {
		seen[mem.Name] = true
		old, ok := m.lastView[mem.Name]
		switch {
		case !ok:
			events = append(events, Event{Type: EventJoin, Member: mem, Quorum: q})
		case old.State != mem.State && mem.State == StateDown:
			events = append(events, Event{Type: EventDown, Member: mem, Quorum: q})
		case old.State != mem.State:
			events = append(events, Event{Type: EventUpdate, Member: mem, Quorum: q})
		}
		m.lastView[mem.Name] = mem
		if !ok && !mem.Self {
			m.nodesDirty = true
		}
	}
	for name, old := range m.lastView {
		if !seen[name] {
			delete(m.lastView, name)
			m.nodesDirty = true
			events = append(events, Event{Type: EventLeave, Member: old, Quorum: q})
		}
	}
	if len(events) > 0 || m.qClass != m.lastQClass {
		if m.qClass != m.lastQClass {
			events = append(events, Event{Type: EventQuorum, Quorum: q})
			m.lastQClass = m.qClass
		}
	}
	coord := m.coordinatorLocked(now)
	if coord != m.lastCoord || m.state.Version != m.lastVersion {
		m.lastCoord, m.lastVersion = coord, m.state.Version
		events = append(events, Event{Type: EventShared, Quorum: q})
	}
	var push *sharedState
	if coord == m.cfg.name && m.joined && m.rejected == "" && !m.leaving {
		push = m.coordinateLocked()
	}
	nodes, write := m.nodesFileLocked()
	m.mu.Unlock()

	for _, e := range events {
		m.log.Debug("membership event", "event", e.Type, "member", e.Member.Name, "state", e.Member.State,
			"voters", e.Quorum.Voters, "reachable", e.Quorum.Reachable)
		m.emit(e)
	}
	if push != nil {
		m.pushShared(push)
	}
	if write {
		if err := writeNodesFile(m.cfg.NodesFile, m.cfg.Cluster, nodes); err != nil {
			m.log.Error("rewriting the nodes file", "file", m.cfg.NodesFile, "err", err)
		}
	}
}

// coordinateLocked seeds the shared state on the first member and keeps
// the roster in step with who joined and who left cleanly. It returns the
// new state to push, or nil when nothing changed.
func (m *Membership) coordinateLocked() *sharedState {
	next := m.state.clone()
	if next.Version == 0 {
		m.seeded = true
		next.Allowed = []string{m.cfg.name}
		if m.cfg.AutoAllowHosts {
			next.Allowed = append(next.Allowed, m.cfg.joinIPs...)
		}
		slices.Sort(next.Allowed)
		next.Allowed = slices.Compact(next.Allowed)
		m.log.Info("first member of the cluster: seeding the allowed node host list",
			"allowed", next.Allowed, "auto_allow_hosts", m.cfg.AutoAllowHosts)
	}
	next.Roster[m.cfg.name] = rosterEntry{Addr: m.cfg.selfAddr(), Kind: m.cfg.Kind}
	for name, p := range m.peers {
		if p.mlAlive && next.allowed(name) {
			next.Roster[name] = rosterEntry{Addr: p.addr, Kind: p.meta.Kind}
		}
	}
	for name := range m.localLeft {
		delete(next.Roster, name)
		if !slices.Contains(next.Left, name) {
			next.Left = append(next.Left, name)
		}
	}
	next.Left = slices.DeleteFunc(next.Left, func(n string) bool {
		p := m.peers[n]
		return n == m.cfg.name || (p != nil && p.mlAlive)
	})
	if len(next.Left) > 64 { // only needed until every member saw the leave
		next.Left = next.Left[len(next.Left)-64:]
	}
	if m.state.Version > 0 && next.equalContent(m.state) {
		return nil
	}
	return m.commitLocked(next)
}

// commitLocked stamps next as the newest version written by this node.
func (m *Membership) commitLocked(next *sharedState) *sharedState {
	next.Version = m.state.Version + 1
	next.Writer = m.cfg.name
	m.applySharedLocked(next)
	return next.clone()
}

// adoptShared takes s if it is newer than ours.
func (m *Membership) adoptShared(s *sharedState, source string) {
	m.mu.Lock()
	if !s.newer(m.state) {
		m.mu.Unlock()
		return
	}
	// Push/pull does not say who sent a state: a refused node's own
	// (seeded) state must not replace the cluster's allowed list, so only
	// states written by a node our list allows are taken.
	if m.state.Version > 0 && !m.state.allowed(s.Writer) {
		m.mu.Unlock()
		m.log.Debug("ignoring shared state written by a node not allowed here", "writer", s.Writer, "from", source)
		return
	}
	m.applySharedLocked(s.clone())
	m.mu.Unlock()
	m.log.Debug("adopted shared state", "version", s.Version, "writer", s.Writer, "from", source)
	m.poke()
}

func (m *Membership) applySharedLocked(s *sharedState) {
	now := time.Now()
	reset := s.ResetGen > m.state.ResetGen
	m.state = s
	for name, e := range s.Roster {
		if name != m.cfg.name && m.peers[name] == nil && !m.localLeft[name] {
			m.peers[name] = &peer{addr: e.Addr, meta: nodeMeta{Cluster: m.cfg.Cluster, Kind: e.Kind},
				firstSeen: now, since: now}
		}
	}
	for name, p := range m.peers {
		_, inRoster := s.Roster[name]
		// A reset drops whatever it did not keep, alive to memberlist or
		// not: a member that comes back announces itself again (memberUp).
		if (!p.mlAlive && slices.Contains(s.Left, name)) || (reset && !inRoster) {
			delete(m.peers, name)
		}
	}
	if reset {
		m.cfg.joinTargets = nil // the roster is the membership now
		m.forceNodes = true
		m.log.Info("reset members: dropped members that are DOWN", "reset", s.ResetGen)
	}
	if s.Version > 0 && !s.allowed(m.cfg.name) {
		if m.rejected == "" {
			m.rejected = errNotAllowed(m.cfg.name, m.cfg.Cluster).Error()
			m.rejectedAt = now
			m.log.Error("this node is not in the cluster's allowed node host list", "allowed", s.Allowed,
				"reason", m.rejected)
			m.emit(Event{Type: EventRejected, Reason: m.rejected})
		}
	} else if m.rejected != "" {
		m.log.Info("this node is allowed again")
		m.rejected = ""
	}
}

func (m *Membership) pushShared(s *sharedState) {
	m.mu.Lock()
	var ts []target
	for name, p := range m.peers {
		if p.mlAlive {
			ts = append(ts, target{name, p.addr})
		}
	}
	m.mu.Unlock()
	msg := encodeJSON(msgShared, m.cfg.name, s)
	for _, t := range ts {
		n, err := nodeFor(t.name, t.addr)
		if err != nil {
			continue
		}
		go func() {
			if err := m.list().SendReliable(n, msg); err != nil {
				m.log.Debug("pushing shared state", "to", t.name, "err", err)
			}
		}()
	}
}

// nodesFileLocked returns the .nodes content and whether to write it:
// after a member joined or left (not merely because this node started
// alone), when the addresses differ from what the file last held, unless
// StableNodesFile; a reset forces it.
func (m *Membership) nodesFileLocked() ([]string, bool) {
	if m.cfg.NodesFile == "" || !m.joined || (!m.nodesDirty && !m.forceNodes) {
		return nil, false
	}
	m.nodesDirty = false
	var addrs []string
	for _, p := range m.peers {
		addrs = append(addrs, p.addr)
	}
	slices.Sort(addrs)
	key := strings.Join(addrs, " ")
	force := m.forceNodes
	m.forceNodes = false
	if key == m.lastNodes && !force {
		return nil, false
	}
	m.lastNodes = key
	return addrs, force || !m.cfg.StableNodesFile
}

// rejoin joins every known address memberlist does not have alive, each
// in its own goroutine (an unreachable address costs a TCP timeout).
// memberlist alone never re-merges a partition longer than
// GossipToTheDeadTime (field-notes.md §2).
func (m *Membership) rejoin() {
	m.mu.Lock()
	if m.leaving {
		m.mu.Unlock()
		return
	}
	alive := map[string]bool{m.cfg.selfAddr(): true, m.cfg.BindAddr: true}
	known := slices.Clone(m.cfg.joinTargets)
	for _, p := range m.peers {
		if p.mlAlive {
			alive[p.addr] = true
			if ap, err := netip.ParseAddrPort(p.addr); err == nil {
				alive[ap.String()] = true
			}
		} else {
			known = append(known, p.addr)
		}
	}
	var todo []string
	for _, a := range known {
		if !alive[a] && !m.joining[a] {
			m.joining[a] = true
			todo = append(todo, a)
		}
	}
	m.mu.Unlock()
	for _, a := range todo {
		go func() {
			_, err := m.list().Join([]string{a})
			m.mu.Lock()
			delete(m.joining, a)
			m.mu.Unlock()
			if err != nil {
				m.log.Debug("re-join attempt failed", "address", a, "err", err)
			}
		}()
	}
}
