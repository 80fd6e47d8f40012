package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/openefm/efm/internal/admin"
	"github.com/openefm/efm/internal/core"
)

// standbySource answers efm create-standby: the current primary, as this
// agent's view names it and as its database confirms (not in recovery),
// and replication settings a new standby can copy. They are copied from a
// standby, as the switchover copies them to an old primary, or from the
// primary itself when it has a primary_conninfo (a promoted standby keeps
// its own); the error names every source tried.
func (h *handler) standbySource(ctx context.Context) (admin.StandbySource, error) {
	s := h.s
	if s.db == nil {
		return admin.StandbySource{}, errors.New("this node is a witness: it has no database to create")
	}
	s.mu.Lock()
	view := s.view
	s.mu.Unlock()
	var primary core.NodeID
	for _, m := range view.Members {
		if m.ID != s.self && m.State == core.MemberAlive && m.Kind != core.KindWitness && m.Status.Role == core.RolePrimary {
			primary = m.ID
		}
	}
	if primary == "" {
		return admin.StandbySource{}, errors.New("no primary is known to this agent: start the primary's agent, or wait until this agent has joined the cluster")
	}
	pctx, cancel := context.WithTimeout(ctx, statusProbeTimeout)
	st, err := s.remote.Probe(pctx, string(primary))
	cancel()
	switch {
	case err != nil:
		return admin.StandbySource{}, fmt.Errorf("the primary %s's database does not answer: %w", primary, err)
	case st.InRecovery:
		return admin.StandbySource{}, fmt.Errorf("the agents name %s as primary, but its database is in recovery", primary)
	}
	rs, src, err := s.copySettings(ctx, settingsSources(view, s.self, primary))
	if err != nil {
		return admin.StandbySource{}, fmt.Errorf("no replication settings to copy for a new standby of %s (reading primary_conninfo needs db.user to be a superuser or have pg_read_all_settings): %w", primary, err)
	}
	return admin.StandbySource{Primary: string(primary), Port: h.dbPort, PrimaryConninfo: rs.PrimaryConninfo,
		RestoreCommand: rs.RestoreCommand, CopiedFrom: string(src)}, nil
}

// settingsSources is where replication settings are copied from: the live
// standbys of view other than self, in address order, then primary (a
// promoted standby keeps its own primary_conninfo).
func settingsSources(view core.ClusterView, self, primary core.NodeID) []core.NodeID {
	var standbys []core.NodeID
	for _, m := range view.Members {
		if m.ID != self && m.ID != primary && m.State == core.MemberAlive && m.Kind != core.KindWitness && m.Status.Role == core.RoleStandby {
			standbys = append(standbys, m.ID)
		}
	}
	sort.Slice(standbys, func(i, j int) bool { return standbys[i] < standbys[j] })
	return append(standbys, primary)
}

// copySettings returns the replication settings of the first of sources
// whose primary_conninfo can be read and is set, and which source that
// was. Otherwise the error names every source tried and why it failed,
// for the caller to say what the settings were for. Read over the
// database connection, never carried in agent messages: they may hold a
// password.
func (s *shell) copySettings(ctx context.Context, sources []core.NodeID) (replSettings, core.NodeID, error) {
	var tried []string
	for _, src := range sources {
		rs, err := s.remote.ReplicationSettings(ctx, string(src))
		if err == nil && rs.PrimaryConninfo == "" {
			err = errors.New("its primary_conninfo is empty")
		}
		if err != nil {
			s.log.Warn("cannot copy replication settings", "source", src, "err", err)
			tried = append(tried, fmt.Sprintf("%s: %v", src, err))
			continue
		}
		return rs, src, nil
	}
	return replSettings{}, "", errors.New(strings.Join(tried, "; "))
}
