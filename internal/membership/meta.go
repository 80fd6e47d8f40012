package membership

import (
	"encoding/json"
	"fmt"
)

// nodeMeta is gossiped in memberlist node meta (≤ 512 bytes).
type nodeMeta struct {
	Cluster string `json:"c"`
	Kind    Kind   `json:"k"`
	State   string `json:"s,omitempty"`
	// Started (unix nanoseconds at agent start) ranks the coordinator:
	// the oldest member is the coordinator, ties broken by name. Only the
	// order matters and every node sees the same values, so clock skew
	// between hosts cannot make two nodes disagree on it.
	Started int64 `json:"t"`
	// NodeTimeoutMS must be equal on every node: IsolationBound, which the
	// failover core's lease rule relies on, is derived from it alone.
	NodeTimeoutMS int64 `json:"nt"`
}

func (m nodeMeta) encode() []byte {
	b, _ := json.Marshal(m) // plain struct: cannot fail
	return b
}

func decodeMeta(b []byte) (nodeMeta, error) {
	var m nodeMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("decoding node meta %q: %w", b, err)
	}
	return m, nil
}

// defaultState is shown for a member that has not reported a state yet.
func defaultState(k Kind) string {
	if k == KindWitness {
		return StateWitness
	}
	return StateIdle
}

// Member states as EFM prints them.
const (
	StatePrimary = "Primary"
	StateStandby = "Standby"
	StateWitness = "Witness"
	StateIdle    = "Idle"
	StateDown    = "DOWN"
)
