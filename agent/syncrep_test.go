package agent

import (
	"testing"

	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/pg"
)

func TestSyncStandbysCountsListedStreamingStandbys(t *testing.T) {
	any2 := pg.SyncStandbyNames{Method: pg.SyncAny, Num: 2, Names: []string{"n2", "n3"}}
	first1 := pg.SyncStandbyNames{Method: pg.SyncFirst, Num: 1, Names: []string{"n2", "n3", "n4"}}
	star := pg.SyncStandbyNames{Method: pg.SyncAny, Num: 1, Names: []string{"*"}}
	for _, tc := range []struct {
		name  string
		names pg.SyncStandbyNames
		reps  []pg.Replica
		want  core.SyncStandbys
	}{
		{"asynchronous", pg.SyncStandbyNames{}, []pg.Replica{{State: "streaming", SyncState: "async"}}, core.SyncStandbys{}},
		{"ANY 2, both stream", any2, []pg.Replica{{State: "streaming", SyncState: "quorum"}, {State: "streaming", SyncState: "quorum"}},
			core.SyncStandbys{Num: 2, Listed: 2, Available: 2}},
		{"ANY 2, one catching up", any2, []pg.Replica{{State: "streaming", SyncState: "quorum"}, {State: "catchup", SyncState: "quorum"}},
			core.SyncStandbys{Num: 2, Listed: 2, Available: 1}},
		{"an unlisted standby does not count", any2, []pg.Replica{{State: "streaming", SyncState: "quorum"}, {State: "streaming", SyncState: "async"}},
			core.SyncStandbys{Num: 2, Listed: 2, Available: 1}},
		{"FIRST 1: potential standbys count", first1, []pg.Replica{{State: "streaming", SyncState: "sync"}, {State: "streaming", SyncState: "potential"}},
			core.SyncStandbys{Num: 1, Listed: 3, Available: 2}},
		{"state hidden (no pg_read_all_stats): in doubt", any2, []pg.Replica{{State: "streaming", SyncState: "quorum"}, {}},
			core.SyncStandbys{Num: 2, Listed: 2, Available: 1, Err: "db.user cannot see the standbys' state in pg_stat_replication: grant it pg_read_all_stats"}},
		{"wildcard: any number listed", star, []pg.Replica{{State: "streaming", SyncState: "quorum"}},
			core.SyncStandbys{Num: 1, Listed: 0, Available: 1}},
	} {
		if got := syncStandbys(0, tc.names, tc.reps); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
