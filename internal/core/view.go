package core

// FailoverList is the standby priority list as cluster-status shows it
// (EFM's "Standby priority host list"): the promotable standbys that are up,
// in the order a failover would prefer them when their WAL positions tie:
// the priority list first, then the others by address. The old primary of a
// failover, Idle agents and standbys with promotable=false or priority 0 are
// not in it.
func (v ClusterView) FailoverList() []NodeID {
	eligible := map[NodeID]bool{}
	for _, m := range v.Members {
		if m.Kind == KindDatabase && m.State == MemberAlive && m.Status.Role == RoleStandby && m.Status.Promotable {
			eligible[m.ID] = true
		}
	}
	out := []NodeID{}
	seen := map[NodeID]bool{}
	for _, id := range v.Priority {
		if eligible[id] && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, m := range v.Members { // Members are in id order
		if eligible[m.ID] && !seen[m.ID] {
			seen[m.ID] = true
			out = append(out, m.ID)
		}
	}
	return out
}
