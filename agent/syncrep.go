package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/pg"
)

// syncDB is what the synchronous-standby check needs of the local primary
// (core/syncrep.go decides; this only reads and writes).
type syncDB interface {
	SyncStandbyNames(ctx context.Context) (pg.SyncStandbyNames, error)
	Replicas(ctx context.Context) ([]pg.Replica, error)
	SetSyncStandbyNames(ctx context.Context, s pg.SyncStandbyNames) error
}

func (l *pgLocal) SyncStandbyNames(ctx context.Context) (pg.SyncStandbyNames, error) {
	return l.db.SyncStandbyNames(ctx)
}
func (l *pgLocal) Replicas(ctx context.Context) ([]pg.Replica, error) { return l.db.Replicas(ctx) }
func (l *pgLocal) SetSyncStandbyNames(ctx context.Context, s pg.SyncStandbyNames) error {
	return l.db.SetSyncStandbyNames(ctx, s)
}

func (s *shell) syncDB() (syncDB, error) {
	if d, ok := s.db.(syncDB); ok && s.db != nil {
		return d, nil
	}
	return nil, errors.New("no local database to reconfigure synchronous replication on")
}

// checkSync answers core.CheckSyncStandbys: num_sync of the primary's
// synchronous_standby_names, and how many listed standbys stream now.
func (s *shell) checkSync(ctx context.Context, seq uint64) core.Event {
	d, err := s.syncDB()
	if err != nil {
		return core.SyncStandbys{Seq: seq, Err: err.Error()}
	}
	names, err := d.SyncStandbyNames(ctx)
	if err != nil {
		return core.SyncStandbys{Seq: seq, Err: err.Error()}
	}
	reps, err := d.Replicas(ctx)
	if err != nil {
		return core.SyncStandbys{Seq: seq, Err: err.Error()}
	}
	return syncStandbys(seq, names, reps)
}

// syncStandbys counts the standbys that can confirm commits: streaming, and
// listed (sync_state sync or quorum, or potential for a FIRST n standby
// waiting its turn). A standby that streams but is not listed ("async")
// does not count, whatever num_sync says.
func syncStandbys(seq uint64, names pg.SyncStandbyNames, reps []pg.Replica) core.SyncStandbys {
	out := core.SyncStandbys{Seq: seq}
	if !names.Synchronous() {
		return out
	}
	out.Num = names.Num
	out.Listed = len(names.Names)
	for _, n := range names.Names {
		if n == "*" {
			out.Listed = 0
		}
	}
	for _, r := range reps {
		if r.State == "" {
			// Without pg_read_all_stats the row is there but its columns
			// are NULL: the count is in doubt, never "no standby".
			out.Err = "db.user cannot see the standbys' state in pg_stat_replication: grant it pg_read_all_stats"
			return out
		}
		if r.State == "streaming" && (r.SyncState == "sync" || r.SyncState == "quorum" || r.SyncState == "potential") {
			out.Available++
		}
	}
	return out
}

// setNumSync carries out core.SetNumSync: num_sync changed, the
// operator's FIRST/ANY form and names kept, or the setting cleared (Num 0).
func (s *shell) setNumSync(ctx context.Context, a core.SetNumSync) error {
	d, err := s.syncDB()
	if err != nil {
		return err
	}
	before, err := d.SyncStandbyNames(ctx)
	if err != nil {
		return err
	}
	after := pg.SyncStandbyNames{}
	if a.Num > 0 {
		if after, err = before.WithNum(a.Num); err != nil {
			return fmt.Errorf("set num_sync to %d: %w", a.Num, err)
		}
	}
	if after.String() == before.String() {
		return nil
	}
	if err := d.SetSyncStandbyNames(ctx, after); err != nil {
		return err
	}
	s.log.Warn("synchronous_standby_names changed", "before", before.String(), "after", after.String())
	return nil
}

// renameSync carries out core.RenameSyncStandby on a new primary: its own
// name replaced by its predecessor's (core.SyncNamesForNewPrimary), the
// FIRST/ANY form kept. Err "" with OK also when nothing needed changing.
func (s *shell) renameSync(ctx context.Context, a core.RenameSyncStandby) (changed bool, err error) {
	d, err := s.syncDB()
	if err != nil {
		return false, err
	}
	before, err := d.SyncStandbyNames(ctx)
	if err != nil {
		return false, err
	}
	if !before.Synchronous() {
		return false, nil
	}
	num, names, ok := core.SyncNamesForNewPrimary(before.Num, before.Names, a.Self, a.Old)
	if !ok {
		return false, nil
	}
	after := before
	after.Num, after.Names = num, names
	if err := d.SetSyncStandbyNames(ctx, after); err != nil {
		return false, err
	}
	s.log.Warn("synchronous_standby_names rewritten for the new primary", "before", before.String(), "after", after.String())
	return true, nil
}
