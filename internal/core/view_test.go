package core

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFailoverList(t *testing.T) {
	m := func(id NodeID, kind Kind, state MemberState, role Role, promotable bool) MemberStatus {
		return MemberStatus{Member: Member{ID: id, Kind: kind, State: state}, Status: NodeStatus{Role: role, Promotable: promotable}}
	}
	v := ClusterView{
		Priority: []NodeID{"10.0.0.1", "10.0.0.4", "10.0.0.3"},
		Members: []MemberStatus{
			m("10.0.0.1", KindDatabase, MemberAlive, RoleIdle, true),     // the failed old primary
			m("10.0.0.2", KindDatabase, MemberAlive, RolePrimary, true),  // the new primary
			m("10.0.0.3", KindDatabase, MemberAlive, RoleStandby, true),  // in the priority list
			m("10.0.0.4", KindDatabase, MemberDown, RoleStandby, true),   // DOWN
			m("10.0.0.5", KindDatabase, MemberAlive, RoleStandby, false), // promotable=false
			m("10.0.0.6", KindDatabase, MemberAlive, RoleStandby, true),  // not in the list yet
			m("10.0.0.7", KindWitness, MemberAlive, RoleWitness, false),
		},
	}
	if diff := cmp.Diff([]NodeID{"10.0.0.3", "10.0.0.6"}, v.FailoverList()); diff != "" {
		t.Errorf("FailoverList (-want +got):\n%s", diff)
	}
}
