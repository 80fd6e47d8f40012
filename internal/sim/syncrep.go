package sim

import (
	"time"

	"github.com/openefm/efm/internal/core"
)

// checkSync answers CheckSyncStandbys as PostgreSQL's primary would:
// num_sync of its synchronous_standby_names (ANY k over the promotable
// standbys) and how many of those stream from it now.
func (w *World) checkSync(n *simNode, a core.CheckSyncStandbys) {
	w.result(n, w.lat(time.Millisecond, 20*time.Millisecond), func() core.Event {
		d := n.db
		if d == nil || !d.writable() || d.hung {
			return core.SyncStandbys{Seq: a.Seq, Err: "database not reachable as a primary"}
		}
		r := core.SyncStandbys{Seq: a.Seq, Num: d.syncK}
		for _, s := range w.nodes {
			if s == n || s.db == nil || !s.params.Promotable {
				continue
			}
			r.Listed++
			if s.db.following == n.id && w.streams(s) {
				r.Available++
			}
		}
		if d.syncK == 0 {
			r.Listed = 0
		}
		return r
	})
}

// setNumSync carries out SetNumSync on n's own server (ALTER SYSTEM: it
// stays with that server, across restarts and promotions).
func (w *World) setNumSync(n *simNode, a core.SetNumSync) {
	w.result(n, w.lat(time.Millisecond, 30*time.Millisecond), func() core.Event {
		d := n.db
		if d == nil || !d.up || d.hung {
			return core.DBOpResult{Seq: a.Seq, Err: "database not reachable"}
		}
		if d.syncK != a.Num {
			w.syncChanges++
			w.logf("%s num_sync %d -> %d", n.id, d.syncK, a.Num)
		}
		d.syncK = a.Num
		return core.DBOpResult{Seq: a.Seq, OK: true}
	})
}
