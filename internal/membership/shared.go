package membership

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// sharedState is the cluster-wide state the coordinator owns. Copies
// travel with memberlist push/pull (LocalState/MergeRemoteState) and are
// pushed to every member on change; the newest (Version, Writer) wins.
type sharedState struct {
	Version uint64 `json:"v"`
	Writer  string `json:"w"`
	// Allowed is the allowed node host list (node names, i.e. bind IPs).
	Allowed []string `json:"a"`
	// Priorities are the efm set-priority values by node name: 1 = first
	// to promote, 0 = never. Cluster state like the allowed list, so an
	// agent restart or a new coordinator keeps them.
	Priorities map[string]int `json:"pr,omitempty"`
	// Roster is every voting member that joined and neither left cleanly
	// nor was dropped by a reset: the cluster size all nodes agree on, so a
	// node that joins later still counts members that failed before it.
	Roster map[string]rosterEntry `json:"r,omitempty"`
	// Left are members seen leaving cleanly, so nodes that missed their
	// leave notice do not keep them as DOWN.
	Left []string `json:"l,omitempty"`
	// ResetGen increments on every ResetMembers.
	ResetGen uint64 `json:"g,omitempty"`
}

type rosterEntry struct {
	Addr string `json:"a"`
	Kind Kind   `json:"k"`
}

// newer reports whether s should replace cur.
func (s *sharedState) newer(cur *sharedState) bool {
	if s.Version != cur.Version {
		return s.Version > cur.Version
	}
	return s.Writer > cur.Writer
}

func (s *sharedState) clone() *sharedState {
	c := *s
	c.Allowed = slices.Clone(s.Allowed)
	c.Priorities = maps.Clone(s.Priorities)
	c.Left = slices.Clone(s.Left)
	c.Roster = maps.Clone(s.Roster)
	if c.Roster == nil {
		c.Roster = map[string]rosterEntry{}
	}
	return &c
}

func (s *sharedState) allowed(name string) bool {
	return slices.Contains(s.Allowed, name)
}

func (s *sharedState) encode() []byte {
	b, _ := json.Marshal(s)
	return b
}

func decodeShared(b []byte) (*sharedState, error) {
	var s sharedState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decoding shared state: %w", err)
	}
	return &s, nil
}

// equalContent compares everything but the version stamp.
func (s *sharedState) equalContent(o *sharedState) bool {
	return slices.Equal(s.Allowed, o.Allowed) && maps.Equal(s.Priorities, o.Priorities) &&
		slices.Equal(s.Left, o.Left) && s.ResetGen == o.ResetGen && maps.Equal(s.Roster, o.Roster)
}
