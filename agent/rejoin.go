package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/pg"
)

// rejoinBound is how long the database queue gives one RejoinDB. The core
// sets no deadline: pg_basebackup takes as long as the database is large.
// A day stops only a rebuild that hangs forever; an agent that stops
// cancels it earlier.
const rejoinBound = 24 * time.Hour

// rejoinPlan is what the shell hands the local database for a rejoin.
type rejoinPlan struct {
	Primary    string
	Settings   replSettings
	Rewind     bool
	BaseBackup bool
	Slot       bool // stream through this node's efm_ slot (core.RejoinDB.Slot)
}

// rejoinReport is pg.RejoinReport as the core needs it.
type rejoinReport struct {
	Method     string
	Reason     string
	BaseBackup bool
	Took       time.Duration
	Detail     string // every step, for the log
	Untouched  bool   // failed before it changed anything (pg.RejoinReport.Untouched)
}

// rejoiner is implemented by the local database that can be rebuilt as a
// standby (pgLocal); kept apart from localDB so that test doubles of the
// other operations need not know it.
type rejoiner interface {
	Rejoin(ctx context.Context, plan rejoinPlan) (rejoinReport, error)
}

// rejoin carries out core.RejoinDB: replication settings copied from the
// new primary or a standby (as the switchover's old primary does), then
// pg.Rejoin, whose guard refuses a database that may hold commits the new
// primary lacks.
func (s *shell) rejoin(ctx context.Context, a core.RejoinDB) core.RejoinResult {
	start := time.Now()
	res := core.RejoinResult{Seq: a.Seq}
	fail := func(err error) core.RejoinResult {
		res.Method, res.Err, res.Took, res.Untouched = string(pg.RejoinRefused), err.Error(), time.Since(start), true
		if res.Reason == "" {
			res.Reason = err.Error()
		}
		return res
	}
	r, ok := s.db.(rejoiner)
	if !ok {
		return fail(errors.New("this node's database cannot be rebuilt by the agent"))
	}
	settings, err := s.rejoinSettings(ctx, a.Primary)
	if err != nil {
		return fail(err)
	}
	plan := rejoinPlan{Primary: string(a.Primary), Settings: settings, Rewind: a.Rewind, BaseBackup: a.BaseBackup, Slot: a.Slot}
	s.log.Warn("rebuilding the fenced old primary as a standby", "primary", a.Primary, "epoch", a.Epoch,
		"auto.rewind", a.Rewind, "auto.basebackup", a.BaseBackup)
	rep, err := r.Rejoin(ctx, plan)
	res.Method, res.Reason, res.BaseBackup, res.Took = rep.Method, rep.Reason, rep.BaseBackup, time.Since(start)
	res.Untouched = rep.Untouched
	if err != nil {
		s.log.Error("rejoin failed", "primary", a.Primary, "report", rep.Detail, "err", err)
		res.Err = errText(err)
		return res
	}
	s.log.Warn("rejoined as a standby", "primary", a.Primary, "method", rep.Method, "why", rep.Reason,
		"took", res.Took.Round(time.Millisecond), "report", rep.Detail)
	res.OK = true
	return res
}

// rejoinSettings copies a working standby's replication settings: the new
// primary's own leftover primary_conninfo first (it streamed from this
// node with it), then every standby of this agent's view in address order.
// They are read over the database connection, never carried in agent
// messages (they may hold a password).
func (s *shell) rejoinSettings(ctx context.Context, primary core.NodeID) (replSettings, error) {
	s.mu.Lock()
	view := s.view
	s.mu.Unlock()
	var standbys []core.NodeID
	for _, m := range view.Members {
		if m.ID != s.self && m.ID != primary && m.State == core.MemberAlive && m.Kind == core.KindDatabase && m.Status.Role == core.RoleStandby {
			standbys = append(standbys, m.ID)
		}
	}
	sort.Slice(standbys, func(i, j int) bool { return standbys[i] < standbys[j] })
	rs, _, err := s.copySettings(ctx, append([]core.NodeID{primary}, standbys...))
	if err != nil {
		return replSettings{}, fmt.Errorf("no replication settings to copy for rebuilding this old primary as a standby of %s (reading primary_conninfo needs db.user to be a superuser or have pg_read_all_settings): %w", primary, err)
	}
	return rs, nil
}

// Rejoin runs pg.Rejoin with the new primary reached through the agent's
// own connection settings. With update.physical.slots.period (plan.Slot)
// the node streams through its efm_ slot, which pg.Rejoin creates on the
// new primary when missing, as every follower does: a standby copies the
// primary's own slot only when it exists, so after a failover the new
// primary has none for its predecessor. Without slots it streams through
// the slot only if the new primary already keeps it (an operator's), else
// through none: creating one would retain WAL for a slot nobody advances.
func (l *pgLocal) Rejoin(ctx context.Context, plan rejoinPlan) (rejoinReport, error) {
	if l.remote == nil {
		return rejoinReport{}, errors.New("no connection to the other nodes' databases")
	}
	prim, err := l.remote.db(plan.Primary)
	if err != nil {
		return rejoinReport{}, fmt.Errorf("connecting to the new primary %s: %w", plan.Primary, err)
	}
	slot := ""
	if plan.Slot {
		slot = pg.SlotName(l.self)
	} else if slots, err := prim.PhysicalSlots(ctx); err == nil {
		want := pg.SlotName(l.self)
		for _, s := range slots {
			if s.Name == want {
				slot = want
			}
		}
	}
	rep, err := l.db.Rejoin(ctx, pg.RejoinPlan{
		Primary:    prim,
		Host:       plan.Primary,
		Port:       l.port,
		Settings:   pg.ReplicationSettings{PrimaryConninfo: plan.Settings.PrimaryConninfo, RestoreCommand: plan.Settings.RestoreCommand},
		SlotName:   slot,
		Rewind:     plan.Rewind,
		BaseBackup: plan.BaseBackup,
	})
	return rejoinReport{Method: string(rep.Method), Reason: rep.Reason, BaseBackup: rep.Method == pg.RejoinBaseBackup,
		Took: rep.Took, Detail: rep.String(), Untouched: rep.Untouched()}, err
}
