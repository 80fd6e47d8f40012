package membership

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Operations on the shared state. Any member may ask; the request goes to
// the coordinator, which applies it, bumps the version and pushes the new
// state to everyone, so concurrent changes through different agents are
// serialised in one place.
const (
	opAllow    = "allow"
	opDisallow = "disallow"
	opPriority = "priority"
	opReset    = "reset"
	opStop     = "stop"
)

type request struct {
	ID  uint64 `json:"i"`
	Op  string `json:"o"`
	Arg string `json:"a,omitempty"`
	// N is the priority of opPriority.
	N int `json:"n,omitempty"`
	// Addr is the asker's address, so the coordinator can answer a node
	// its memberlist has not told it about yet.
	Addr string `json:"r,omitempty"`
}

// command is the request as the operator typed it (efm's verb and its
// argument): every error about it starts with this, once.
func (r request) command() string {
	verb := map[string]string{opAllow: "allow-node", opDisallow: "disallow-node", opPriority: "set-priority",
		opReset: "reset-members", opStop: "stop-cluster"}[r.Op]
	if verb == "" {
		verb = r.Op
	}
	if r.Arg != "" {
		verb += " " + r.Arg
	}
	return verb
}

type response struct {
	ID  uint64 `json:"i"`
	Err string `json:"e,omitempty"`
}

// The operations below take what the admin protocol decoded and
// validated (an address is a netip.Addr, a priority is 0 or more: see
// admin.SetPriorityRequest). What they check is the cluster's rules, which
// need the shared state, and that happens once, on the coordinator.

// AllowNode adds an address (a node's bind IP) to the allowed host list.
func (m *Membership) AllowNode(ctx context.Context, addr netip.Addr) error {
	return m.ask(ctx, request{Op: opAllow, Arg: addr.Unmap().String()})
}

// DisallowNode removes an address from the allowed host list: that node
// can no longer (re)join.
func (m *Membership) DisallowNode(ctx context.Context, addr netip.Addr) error {
	return m.ask(ctx, request{Op: opDisallow, Arg: addr.Unmap().String()})
}

// SetPriority records efm set-priority for a database node (its bind IP):
// 1 = first to promote, 0 = never. The coordinator checks it against the
// roster, so every agent accepts and refuses the same values.
func (m *Membership) SetPriority(ctx context.Context, node netip.Addr, priority int) error {
	return m.ask(ctx, request{Op: opPriority, Arg: node.Unmap().String(), N: priority})
}

// ResetMembers drops every DOWN member on every node, trims the allowed
// host list to the current members and rewrites every .nodes file (even
// with StableNodesFile).
func (m *Membership) ResetMembers(ctx context.Context) error {
	return m.ask(ctx, request{Op: opReset})
}

// StopCluster clears the allowed host list and asks every agent to stop:
// StopRequested() closes on every member (this one included).
func (m *Membership) StopCluster(ctx context.Context) error {
	return m.ask(ctx, request{Op: opStop})
}

// ask applies r here when this node is the coordinator, else forwards it
// to the coordinator and waits for its answer.
func (m *Membership) ask(ctx context.Context, r request) error {
	m.mu.Lock()
	coord := m.coordinatorLocked(time.Now())
	if coord == m.cfg.name {
		m.mu.Unlock()
		return m.apply(r, m.cfg.name)
	}
	p := m.peers[coord]
	m.reqID++
	r.ID = m.reqID
	r.Addr = m.cfg.selfAddr()
	ch := make(chan error, 1)
	m.waiters[r.ID] = ch
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.waiters, r.ID)
		m.mu.Unlock()
	}()
	n, err := nodeFor(coord, p.addr)
	if err != nil {
		return err
	}
	if err := m.sendReliable(ctx, n, encodeJSON(msgRequest, m.cfg.name, r)); err != nil {
		return fmt.Errorf("%s: forwarding to coordinator %s: %w", r.command(), coord, err)
	}
	select {
	case err := <-ch:
		return err
	case <-ctxDone(ctx):
		return fmt.Errorf("%s: waiting for coordinator %s: %w", r.command(), coord, ctx.Err())
	case <-m.done:
		return errors.New("membership shut down")
	}
}

// serveRequest applies a forwarded request and answers it.
func (m *Membership) serveRequest(from string, r request) {
	err := m.apply(r, from)
	resp := response{ID: r.ID}
	if err != nil {
		resp.Err = err.Error()
	}
	addr := r.Addr
	m.mu.Lock()
	if p := m.peers[from]; p != nil {
		addr = p.addr
	}
	m.mu.Unlock()
	n, nerr := nodeFor(from, addr)
	if nerr != nil {
		m.log.Warn("cannot answer a request", "from", from, "op", r.Op, "err", nerr)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.t.TCPTimeout)
	defer cancel()
	if serr := m.sendReliable(ctx, n, encodeJSON(msgResponse, m.cfg.name, resp)); serr != nil {
		m.log.Warn("answering a request", "to", from, "op", r.Op, "err", serr)
	}
}

// apply changes the shared state (this node acts as coordinator) and
// pushes it to every member.
func (m *Membership) apply(r request, from string) error {
	m.mu.Lock()
	if m.state.Version == 0 {
		// Changing an unseeded state would skip the first member's seed
		// (and leave this node out of its own allowed list).
		m.mu.Unlock()
		return fmt.Errorf("%s: cluster %s has no shared state yet (still joining): retry in a moment", r.command(), m.cfg.Cluster)
	}
	next := m.state.clone()
	var stopTargets []target
	switch r.Op {
	case opAllow:
		if !next.allowed(r.Arg) {
			next.Allowed = append(next.Allowed, r.Arg)
			slices.Sort(next.Allowed)
		}
	case opDisallow:
		if r.Arg == m.cfg.name || r.Arg == from {
			m.mu.Unlock()
			return fmt.Errorf("%s: a running agent cannot disallow itself or the coordinator", r.command())
		}
		next.Allowed = slices.DeleteFunc(next.Allowed, func(a string) bool { return a == r.Arg })
	case opPriority:
		if err := checkPriority(next, r.Arg, m.cfg.Cluster); err != nil {
			m.mu.Unlock()
			return err
		}
		if next.Priorities == nil {
			next.Priorities = map[string]int{}
		}
		next.Priorities[r.Arg] = r.N
	case opReset:
		roster := map[string]rosterEntry{m.cfg.name: {Addr: m.cfg.selfAddr(), Kind: m.cfg.Kind}}
		now := time.Now()
		for name, p := range m.peers {
			if m.shownLocked(p, now) != StateDown {
				roster[name] = rosterEntry{Addr: p.addr, Kind: p.meta.Kind}
			}
		}
		next.Roster = roster
		next.Allowed = slices.DeleteFunc(next.Allowed, func(a string) bool { _, ok := roster[a]; return !ok })
		next.Left = nil
		// Forgotten members take their priority with them.
		maps.DeleteFunc(next.Priorities, func(a string, _ int) bool { _, ok := roster[a]; return !ok })
		next.ResetGen++
	case opStop:
		// Every agent exits: like EFM, set-priority values end with them.
		next.Allowed = nil
		next.Priorities = nil
		for name, p := range m.peers {
			if p.mlAlive {
				stopTargets = append(stopTargets, target{name, p.addr})
			}
		}
	default:
		m.mu.Unlock()
		return fmt.Errorf("unknown operation %q", r.Op)
	}
	push := m.commitLocked(next)
	m.mu.Unlock()
	m.log.Info("shared state changed", "op", r.Op, "arg", r.Arg, "by", from, "version", push.Version,
		"allowed", push.Allowed, "priorities", push.Priorities)
	m.pushShared(push)
	m.poke()
	if r.Op == opStop {
		m.broadcastStop(stopTargets)
		m.requestStop(from)
	}
	return nil
}

// checkPriority is set-priority's cluster rule: the node is a database
// agent of the roster (running or DOWN). The value's own rules (an IP, 0 or
// more) were checked where the admin request was decoded.
func checkPriority(s *sharedState, node string, cluster string) error {
	e, ok := s.Roster[node]
	switch {
	case !ok:
		var dbs []string
		for name, e := range s.Roster {
			if e.Kind == KindDatabase {
				dbs = append(dbs, name)
			}
		}
		slices.Sort(dbs)
		return fmt.Errorf("set-priority %s: not a member of cluster %s (its database agents: %s)", node, cluster, strings.Join(dbs, " "))
	case e.Kind != KindDatabase:
		return fmt.Errorf("set-priority %s: a %s agent has no database to promote", node, e.Kind)
	}
	return nil
}

type target struct{ name, addr string }

func (m *Membership) broadcastStop(targets []target) {
	msg := encode(msgStop, m.cfg.name, nil)
	for _, t := range targets {
		n, err := nodeFor(t.name, t.addr)
		if err != nil {
			continue
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), m.t.TCPTimeout)
			defer cancel()
			if err := m.sendReliable(ctx, n, msg); err != nil {
				m.log.Warn("sending stop-cluster", "to", n.Name, "err", err)
			}
		}()
	}
}
