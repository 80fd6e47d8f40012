package membership

import (
	"context"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// Send delivers payload to the named member over memberlist's reliable
// stream (TCP, encrypted when Encrypt is on). It returns when the payload
// was written, not when the application handled it: acknowledge in the
// payload protocol when that matters.
func (m *Membership) Send(ctx context.Context, to string, payload []byte) error {
	n, err := m.nodeByName(to)
	if err != nil {
		return err
	}
	if err := m.sendReliable(ctx, n, encode(msgUserRel, m.cfg.name, payload)); err != nil {
		return fmt.Errorf("sending to %s: %w", to, err)
	}
	return nil
}

// SendBestEffort sends payload in one UDP packet (it must fit in ~1.4 kB);
// it may be lost.
func (m *Membership) SendBestEffort(to string, payload []byte) error {
	n, err := m.nodeByName(to)
	if err != nil {
		return err
	}
	if err := m.list().SendBestEffort(n, encode(msgUser, m.cfg.name, payload)); err != nil {
		return fmt.Errorf("sending to %s: %w", to, err)
	}
	return nil
}

func (m *Membership) nodeByName(name string) (*memberlist.Node, error) {
	m.mu.Lock()
	p := m.peers[name]
	var addr string
	if p != nil {
		addr = p.addr
	}
	m.mu.Unlock()
	if name == m.cfg.name {
		addr = m.cfg.selfAddr()
	} else if p == nil {
		return nil, fmt.Errorf("sending to %s: not a member of cluster %s", name, m.cfg.Cluster)
	}
	return nodeFor(name, addr)
}

// sendReliable bounds memberlist's SendReliable (itself bounded by
// TCPTimeout) by ctx too.
func (m *Membership) sendReliable(ctx context.Context, n *memberlist.Node, msg []byte) error {
	ch := make(chan error, 1)
	go func() { ch <- m.list().SendReliable(n, msg) }()
	select {
	case err := <-ch:
		return err
	case <-ctxDone(ctx):
		return ctx.Err()
	}
}
