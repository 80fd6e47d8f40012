package agent

import (
	"context"
	"testing"

	"github.com/openefm/efm/internal/core"
)

type statusRoster struct{ roster }

func (statusRoster) Allowed() []string   { return nil }
func (statusRoster) Coordinator() string { return "" }

type slowProbes struct{ remoteDBs }

func (slowProbes) Probe(context.Context, string) (dbStatus, error) {
	return dbStatus{InRecovery: true}, nil
}

// efm cluster-status on an agent whose view lists the witness after the
// database members: the database probes run concurrently and write the
// node map, and the witness's entry must be written under the same lock.
// A fresh-clone CI run crashed the witness agent with "fatal error:
// concurrent map writes" here; `go test -race` fails without the lock.
func TestClusterStatusWitnessAfterDatabases(t *testing.T) {
	s := &shell{self: "10.0.0.9", remote: slowProbes{}}
	s.view = core.ClusterView{Members: []core.MemberStatus{
		{Member: core.Member{ID: "10.0.0.1", Kind: core.KindDatabase, State: core.MemberAlive}, Status: core.NodeStatus{Role: core.RolePrimary}},
		{Member: core.Member{ID: "10.0.0.2", Kind: core.KindDatabase, State: core.MemberAlive}, Status: core.NodeStatus{Role: core.RoleStandby}},
		{Member: core.Member{ID: "10.0.0.3", Kind: core.KindWitness, State: core.MemberAlive}, Status: core.NodeStatus{Role: core.RoleWitness}},
	}}
	h := &handler{s: s, roster: statusRoster{}}
	for i := 0; i < 50; i++ {
		cs := h.clusterStatus(context.Background())
		if len(cs.Nodes) != 3 || cs.Nodes["10.0.0.3"].Type != "Witness" || cs.Nodes["10.0.0.2"].DB != "UP" {
			t.Fatalf("cluster status nodes %+v, want the two databases and the witness", cs.Nodes)
		}
	}
}
