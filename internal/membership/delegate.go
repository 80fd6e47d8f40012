package membership

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// delegate receives memberlist's callbacks. memberlist calls several of
// them while holding its own locks: they take m.mu briefly, never block and
// never call back into memberlist (sends go through goroutines).
type delegate struct{ m *Membership }

var (
	_ memberlist.Delegate         = (*delegate)(nil)
	_ memberlist.EventDelegate    = (*delegate)(nil)
	_ memberlist.AliveDelegate    = (*delegate)(nil)
	_ memberlist.MergeDelegate    = (*delegate)(nil)
	_ memberlist.ConflictDelegate = (*delegate)(nil)
)

func (d *delegate) NodeMeta(limit int) []byte {
	d.m.mu.Lock()
	b := d.m.self.encode()
	d.m.mu.Unlock()
	if len(b) > limit {
		d.m.log.Error("node meta too long, sending none", "bytes", len(b), "limit", limit)
		return nil
	}
	return b
}

func (d *delegate) NotifyMsg(b []byte) { d.m.handleMsg(b) }

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }

func (d *delegate) LocalState(join bool) []byte {
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	return d.m.state.encode()
}

func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	s, err := decodeShared(buf)
	if err != nil {
		d.m.log.Warn("ignoring a member's shared state", "err", err)
		return
	}
	d.m.adoptShared(s, "push/pull")
}

// admit decides whether a node may be a member: same cluster (memberlist's
// Label already refused other clusters' packets; meta is checked too) and
// in the allowed host list once this node has loaded one.
func (m *Membership) admit(n *memberlist.Node) error {
	if n.Name == m.cfg.name {
		return nil
	}
	meta, err := decodeMeta(n.Meta)
	if err != nil {
		return fmt.Errorf("node %s: %w", n.Name, err)
	}
	if meta.Cluster != m.cfg.Cluster {
		return fmt.Errorf("node %s belongs to cluster %q, not %q", n.Name, meta.Cluster, m.cfg.Cluster)
	}
	if meta.NodeTimeoutMS != m.t.NodeTimeout.Milliseconds() {
		return fmt.Errorf("node %s uses node.timeout %v, this node %v: it must be the same on every node",
			n.Name, time.Duration(meta.NodeTimeoutMS)*time.Millisecond, m.t.NodeTimeout)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state.Version == 0 || m.state.allowed(n.Name) {
		return nil
	}
	return errNotAllowed(n.Name, m.cfg.Cluster)
}

// notAllowedError is a refusal by the allowed host list, as opposed to a
// settings mismatch: only the former marks the refused node as Rejected.
type notAllowedError struct{ msg string }

func (e *notAllowedError) Error() string { return e.msg }

func errNotAllowed(name, cluster string) error {
	return &notAllowedError{fmt.Sprintf("node %s is not in the allowed node host list of cluster %s: run 'efm allow-node %s %s' on a running member", name, cluster, cluster, name)}
}

func (d *delegate) NotifyAlive(n *memberlist.Node) error {
	err := d.m.admit(n)
	if err != nil {
		d.m.refuse(n.Name, net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))), err)
	}
	return err
}

// NotifyMerge runs on both sides of a join's push/pull. A foreign cluster
// is refused as a whole; a peer whose alive nodes are all refused (a
// lone node that is not allowed) is refused here so its Join fails, and
// anything else is filtered node by node in NotifyAlive.
func (d *delegate) NotifyMerge(peers []*memberlist.Node) error {
	var refused error
	admitted := 0
	for _, n := range peers {
		if n.Name == d.m.cfg.name {
			continue
		}
		err := d.m.admit(n)
		var foreign bool
		if meta, merr := decodeMeta(n.Meta); merr != nil || meta.Cluster != d.m.cfg.Cluster ||
			meta.NodeTimeoutMS != d.m.t.NodeTimeout.Milliseconds() {
			foreign = true
		}
		if foreign {
			d.m.refuse(n.Name, net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))), err)
			return err
		}
		switch {
		case err == nil && n.State == memberlist.StateAlive:
			admitted++
		case err != nil && n.State == memberlist.StateAlive:
			refused = errors.Join(refused, err)
			d.m.refuse(n.Name, net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))), err)
		}
	}
	if admitted == 0 && refused != nil {
		return refused
	}
	return nil
}

// refuse logs a refusal and tells the refused node why (rate-limited):
// memberlist gives it no reason of its own.
func (m *Membership) refuse(name, addr string, why error) {
	m.mu.Lock()
	last, seen := m.rejectSent[name]
	now := time.Now()
	if seen && now.Sub(last) < 5*time.Second {
		m.mu.Unlock()
		return
	}
	m.rejectSent[name] = now
	m.mu.Unlock()
	m.log.Warn("refusing node", "peer", name, "address", addr, "reason", why)
	go func() {
		if m.list() == nil {
			return
		}
		kind := rejectSettings
		var na *notAllowedError
		if errors.As(why, &na) {
			kind = rejectNotAllowed
		}
		msg := encode(msgReject, m.cfg.name, append([]byte{kind}, why.Error()...))
		n, err := nodeFor(name, addr)
		if err != nil {
			return
		}
		if err := m.list().SendBestEffort(n, msg); err != nil {
			m.log.Debug("telling a refused node why", "peer", name, "err", err)
		}
	}()
}

func (d *delegate) NotifyConflict(existing, other *memberlist.Node) {
	d.m.log.Error("two nodes use the same name (bind IP)", "name", existing.Name,
		"existing", existing.Address(), "other", other.Address())
}

func (d *delegate) NotifyJoin(n *memberlist.Node) { d.m.memberUp(n) }

func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.m.memberUp(n) }

func (d *delegate) NotifyLeave(n *memberlist.Node) {
	m := d.m
	if n.Name == m.cfg.name {
		return
	}
	m.mu.Lock()
	p, ok := m.peers[n.Name]
	if ok {
		if p.leaving {
			// A clean leave: it no longer counts in the cluster size.
			delete(m.peers, n.Name)
			m.localLeft[n.Name] = true
		} else {
			p.mlAlive = false
		}
	}
	m.mu.Unlock()
	m.poke()
}

func (m *Membership) memberUp(n *memberlist.Node) {
	if n.Name == m.cfg.name {
		return
	}
	meta, err := decodeMeta(n.Meta)
	if err != nil {
		m.log.Warn("member with unreadable meta", "member", n.Name, "err", err)
		return
	}
	now := time.Now()
	m.mu.Lock()
	p, ok := m.peers[n.Name]
	if !ok {
		p = &peer{since: now}
		m.peers[n.Name] = p
	}
	if !p.mlAlive {
		p.firstSeen = now
	}
	p.addr = net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	p.meta = meta
	p.mlAlive = true
	p.leaving = false
	delete(m.localLeft, n.Name)
	m.mu.Unlock()
	m.poke()
}
