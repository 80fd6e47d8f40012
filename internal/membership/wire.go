package membership

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Every message this package sends through memberlist is
//
//	[type byte][uvarint len(from)][from][body]
//
// from is the sender's name. Encryption (when on) authenticates the whole
// packet as coming from a key holder; the allowed list is checked on top.
const (
	msgPing     byte = 'p' // heartbeat request, body: JSON hbPing
	msgAck      byte = 'k' // heartbeat ack, body: uvarint seq
	msgUser     byte = 'u' // application payload, best effort (UDP)
	msgUserRel  byte = 'U' // application payload, reliable (TCP)
	msgShared   byte = 's' // shared state push, body: JSON sharedState
	msgRequest  byte = 'q' // request to the coordinator, body: JSON request
	msgResponse byte = 'r' // its answer, body: JSON response
	msgReject   byte = 'x' // "you are refused", body: reason text
	msgLeaving  byte = 'l' // "I am leaving cleanly"
	msgStop     byte = 'z' // stop-cluster
)

type hbPing struct {
	Seq  uint64 `json:"n"`
	Addr string `json:"a"`
}

func encode(t byte, from string, body []byte) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(from)+len(body))
	b = append(b, t)
	b = binary.AppendUvarint(b, uint64(len(from)))
	b = append(b, from...)
	return append(b, body...)
}

func decode(b []byte) (t byte, from string, body []byte, err error) {
	if len(b) < 2 {
		return 0, "", nil, errors.New("message too short")
	}
	t = b[0]
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || uint64(len(b)-1-k) < n {
		return 0, "", nil, errors.New("bad sender length")
	}
	from = string(b[1+k : 1+k+int(n)])
	return t, from, slices.Clone(b[1+k+int(n):]), nil
}

func encodeJSON(t byte, from string, v any) []byte {
	body, _ := json.Marshal(v)
	return encode(t, from, body)
}

// handleMsg runs on memberlist's goroutines: quick, never blocking.
func (m *Membership) handleMsg(raw []byte) {
	if m.list() == nil {
		return // memberlist.Create failed; its goroutines may linger
	}
	t, from, body, err := decode(raw)
	if err != nil {
		m.log.Debug("ignoring malformed message", "err", err)
		return
	}
	switch t {
	case msgPing:
		m.onPing(from, body)
	case msgAck:
		seq, k := binary.Uvarint(body)
		if k > 0 {
			m.onAck(from, seq)
		}
	case msgReject:
		if len(body) > 0 && m.senderAdmitted(from) {
			m.onRejected(from, body[0], string(body[1:]))
		}
	default:
		// Everything else needs a sender this node admits.
		if !m.senderAdmitted(from) {
			m.log.Debug("ignoring message from a node not admitted", "from", from, "type", string(t))
			return
		}
		m.onAdmitted(t, from, body)
	}
}

func (m *Membership) senderAdmitted(from string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state.Version == 0 || m.state.allowed(from) || m.peers[from] != nil
}

func (m *Membership) onAdmitted(t byte, from string, body []byte) {
	switch t {
	case msgUser, msgUserRel:
		select {
		case m.msgs <- Message{From: from, Payload: body, Reliable: t == msgUserRel}:
		default:
			m.log.Warn("message dropped: nobody reads Messages()", "from", from)
		}
	case msgShared:
		s, err := decodeShared(body)
		if err != nil {
			m.log.Warn("ignoring shared state", "from", from, "err", err)
			return
		}
		m.adoptShared(s, from)
	case msgRequest:
		var r request
		if err := json.Unmarshal(body, &r); err != nil {
			m.log.Warn("ignoring request", "from", from, "err", err)
			return
		}
		go m.serveRequest(from, r)
	case msgResponse:
		var r response
		if err := json.Unmarshal(body, &r); err != nil {
			m.log.Warn("ignoring response", "from", from, "err", err)
			return
		}
		m.mu.Lock()
		ch := m.waiters[r.ID]
		delete(m.waiters, r.ID)
		m.mu.Unlock()
		if ch != nil {
			var err error
			if r.Err != "" {
				err = fmt.Errorf("coordinator %s: %s", from, r.Err)
			}
			ch <- err
		}
	case msgLeaving:
		m.mu.Lock()
		if p := m.peers[from]; p != nil {
			p.leaving = true
		}
		m.mu.Unlock()
	case msgStop:
		m.requestStop(from)
	default:
		m.log.Debug("ignoring message of unknown type", "from", from, "type", t)
	}
}

// onPing answers a heartbeat request, unless the sender is refused.
func (m *Membership) onPing(from string, body []byte) {
	var p hbPing
	if err := json.Unmarshal(body, &p); err != nil {
		return
	}
	m.mu.Lock()
	if m.leaving {
		m.mu.Unlock()
		return
	}
	refused := m.state.Version > 0 && !m.state.allowed(from)
	if !refused {
		m.answered[from] = time.Now()
	}
	m.mu.Unlock()
	if refused {
		m.refuse(from, p.Addr, errNotAllowed(from, m.cfg.Cluster))
		return
	}
	ack := encode(msgAck, m.cfg.name, binary.AppendUvarint(nil, p.Seq))
	n, err := nodeFor(from, p.Addr)
	if err != nil {
		return
	}
	// SendBestEffort with our own Node, not SendToAddress: the latter
	// reads memberlist's node table without its lock (a race in v0.7.0).
	if err := m.list().SendBestEffort(n, ack); err != nil {
		m.log.Debug("answering heartbeat", "to", from, "err", err)
	}
}

func (m *Membership) onAck(from string, seq uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	hb, ok := m.pending[seq]
	if !ok || hb.to != from {
		return
	}
	delete(m.pending, seq)
	if p := m.peers[from]; p != nil && hb.sent.After(p.lastRT) {
		p.lastRT = hb.sent
	}
}

// Kinds of refusal carried in msgReject's first body byte.
const (
	rejectNotAllowed byte = 'a' // not in the allowed host list
	rejectSettings   byte = 's' // node.timeout or meta differ
)

func (m *Membership) onRejected(from string, kind byte, reason string) {
	if kind != rejectNotAllowed {
		// The peer's settings differ from ours: which side is wrong is for
		// the operator to say, so log it without calling ourselves refused.
		m.mu.Lock()
		last, seen := m.rejectSent["<"+from]
		now := time.Now()
		if !seen || now.Sub(last) > 10*time.Second {
			m.rejectSent["<"+from] = now
		}
		m.mu.Unlock()
		if !seen || now.Sub(last) > 10*time.Second {
			m.log.Error("a node refuses to merge with this one", "by", from, "reason", reason)
		}
		return
	}
	m.mu.Lock()
	first := m.rejected == "" || time.Since(m.rejectedAt) > 10*time.Second
	m.rejected = reason
	if first {
		m.rejectedAt = time.Now()
	}
	m.mu.Unlock()
	if first {
		m.log.Error("refused by the cluster", "by", from, "reason", reason)
		m.emit(Event{Type: EventRejected, Reason: reason})
	}
}

func (m *Membership) requestStop(from string) {
	m.stop.Do(func() {
		m.log.Warn("stop-cluster requested", "by", from)
		close(m.stopCh)
		m.emit(Event{Type: EventStopRequest, Reason: "stop-cluster requested by " + from})
	})
}
