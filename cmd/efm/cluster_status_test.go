package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/openefm/efm/internal/admin"
)

func status(nodes map[string]admin.ClusterNode) *admin.ClusterStatus {
	return &admin.ClusterStatus{Nodes: nodes, AllowedNodes: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"},
		MembershipCoordinator: "10.0.0.1", FailoverPriority: []string{"10.0.0.2"}}
}

func TestHealthy(t *testing.T) {
	p := admin.ClusterNode{Type: "Primary", DB: "UP", LSN: "0/5000000"}
	s := admin.ClusterNode{Type: "Standby", DB: "UP", LSNReceive: "0/5000000", LSN: "0/5000000"}
	w := admin.ClusterNode{Type: "Witness", DB: "N/A"}
	behind := s
	behind.LSN = "0/4000000"
	down := s
	down.DB = "UNKNOWN"
	tests := []struct {
		name  string
		nodes map[string]admin.ClusterNode
		want  bool
	}{
		{"primary, standby in sync, witness: healthy", map[string]admin.ClusterNode{"a": p, "b": s, "c": w}, true},
		{"standby behind the primary: not in sync", map[string]admin.ClusterNode{"a": p, "b": behind, "c": w}, false},
		{"standby database unknown", map[string]admin.ClusterNode{"a": p, "b": down, "c": w}, false},
		{"no standby", map[string]admin.ClusterNode{"a": p, "c": w}, false},
		{"no primary", map[string]admin.ClusterNode{"b": s, "c": w}, false},
		{"an idle agent", map[string]admin.ClusterNode{"a": p, "b": s, "d": {Type: "Idle", DB: "UP"}}, false},
		{"a DOWN member", map[string]admin.ClusterNode{"a": p, "b": s, "d": {Type: "DOWN"}}, false},
	}
	for _, tc := range tests {
		if got := healthy(status(tc.nodes)); got != tc.want {
			t.Errorf("%s: healthy = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The layout follows EFM 5.x's cluster-status: members primary first, the
// active VIP starred, the allowed list, the coordinator, the priority list,
// the promote status and its verdict.
func TestClusterStatusLayout(t *testing.T) {
	var b bytes.Buffer
	printClusterStatus(&b, "efm", status(map[string]admin.ClusterNode{
		"10.0.0.3": {Type: "Witness", DB: "N/A", VIP: "10.0.0.100"},
		"10.0.0.2": {Type: "Standby", DB: "UP", VIP: "10.0.0.100", LSNReceive: "0/5000000", LSN: "0/5000000"},
		"10.0.0.1": {Type: "Primary", DB: "UP", VIP: "10.0.0.100", VIPActive: true, LSN: "0/5000000"},
	}))
	out := b.String()
	order := []string{
		"Cluster Status: efm",
		"\tPrimary     10.0.0.1             UP       10.0.0.100*",
		"\tStandby     10.0.0.2             UP       10.0.0.100\n",
		"\tWitness     10.0.0.3             N/A      10.0.0.100",
		"Allowed node host list:\n\t10.0.0.1 10.0.0.2 10.0.0.3",
		"Membership coordinator: 10.0.0.1",
		"Standby priority host list:\n\t10.0.0.2",
		"Promote Status:",
		"Standby database(s) in sync with primary. It is safe to promote.",
	}
	at := 0
	for _, want := range order {
		i := strings.Index(out[at:], want)
		if i < 0 {
			t.Fatalf("cluster-status lacks %q after offset %d:\n%s", want, at, out)
		}
		at += i + len(want)
	}
}
