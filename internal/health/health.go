package health

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/wal"
)

// Snapshot is what the agent knows when it publishes it: its role, its
// lease as a deadline, and the last probe of its database. Times are wall
// clock readings taken with time.Now (they carry Go's monotonic reading,
// so the comparisons in Answer are immune to clock steps).
type Snapshot struct {
	Role core.Role
	// Fenced: the core fenced this node's database as a failed or isolated
	// primary (core.Persisted.Fenced).
	Fenced bool
	// WritableUntil is the lease's end minus the fencing allowance; zero
	// without a lease. A primary is vouched for only before it.
	WritableUntil time.Time
	// DB is the last probe of the local database; a witness has none.
	DB DBProbe
	// ProbeMaxAge is how old a probe may be and still be believed for a
	// replica: a probe that stopped arriving is in doubt.
	ProbeMaxAge time.Duration
	// SteppedAt is when the agent's loop last ran its core; LoopMaxGap is
	// the longest gap /liveness accepts.
	SteppedAt  time.Time
	LoopMaxGap time.Duration
	Lag        Lag
}

// DBProbe is one probe of the local database.
type DBProbe struct {
	// Up: the probe succeeded. A failed or timed-out probe is in doubt and
	// reads as down.
	Up         bool
	InRecovery bool
	At         time.Time
}

// Lag is how far this standby's replay is behind the primary's position as
// the primary's agent last reported it.
type Lag struct {
	// Known: the primary's position is known (its agent was heard); without
	// it a ?lag= check fails closed.
	Known bool
	Bytes uint64
	// BehindSince is when replay first fell behind the reported position;
	// zero while it has caught up.
	BehindSince time.Time
}

// TrackLag carries prev forward to a new observation: the primary's
// reported position and this standby's replay position at now. known is
// false when there is no primary or it has not reported a position.
func TrackLag(prev Lag, primary, replay wal.LSN, known bool, now time.Time) Lag {
	if !known || primary == wal.Invalid {
		return Lag{}
	}
	if replay >= primary {
		return Lag{Known: true}
	}
	since := prev.BehindSince
	if since.IsZero() {
		since = now
	}
	return Lag{Known: true, Bytes: uint64(primary - replay), BehindSince: since}
}

// Answer decides the status code and a one-line body for a request to path
// with query, on snapshot s, at now. Paths:
//
//	/                      EFM: 200 primary, 503 fenced or isolated primary, 404 otherwise
//	/primary, /read-write  200 primary, else 503
//	/replica               200 streaming standby (within ?lag=), else 503
//	/read-only             200 primary or /replica's 200, else 503
//	/health                200 while the local database answers, else 503
//	/liveness              200 while the agent's loop runs, else 503
//	/readiness             /read-only's answer
//
// Any other path answers as / does, as EFM's endpoint answers any path:
// that is the strictest answer, so a mistyped path never routes a write
// to a node that is not the primary. A malformed ?lag= is refused with
// 400 naming the argument.
func Answer(path string, query url.Values, s Snapshot, now time.Time) (int, string) {
	path = strings.TrimSuffix(path, "/")
	switch path {
	case "/primary", "/read-write":
		if ok, why := primary(s, now); !ok {
			return http.StatusServiceUnavailable, "not the primary: " + why
		}
		return http.StatusOK, primaryBody(s, now)
	case "/replica":
		lim, code, body := lagLimit(query)
		if code != 0 {
			return code, body
		}
		if ok, why := replica(s, now, lim); !ok {
			return http.StatusServiceUnavailable, "not a replica: " + why
		}
		return http.StatusOK, "replica: " + lagBody(s, now)
	case "/read-only", "/readiness":
		lim, code, body := lagLimit(query)
		if code != 0 {
			return code, body
		}
		if ok, _ := primary(s, now); ok {
			return http.StatusOK, primaryBody(s, now)
		}
		if ok, why := replica(s, now, lim); !ok {
			return http.StatusServiceUnavailable, "neither primary nor replica: " + why
		}
		return http.StatusOK, "replica: " + lagBody(s, now)
	case "/health":
		if ok, why := dbUp(s, now); !ok {
			return http.StatusServiceUnavailable, why
		}
		return http.StatusOK, "database running"
	case "/liveness":
		if gap := now.Sub(s.SteppedAt); s.SteppedAt.IsZero() || gap > s.LoopMaxGap {
			return http.StatusServiceUnavailable, fmt.Sprintf("agent loop stalled: last ran %v ago, more than %v", gap.Round(time.Millisecond), s.LoopMaxGap)
		}
		return http.StatusOK, "agent running"
	}
	ok, why := primary(s, now)
	switch {
	case ok:
		return http.StatusOK, primaryBody(s, now)
	case s.Role == core.RolePrimary || s.Fenced || (s.DB.Up && !s.DB.InRecovery):
		// A primary that lost its lease, a fenced one, or a database that
		// accepts writes without the lease: a load balancer must drop it
		// at once, and 503 tells an operator it is not merely a standby.
		return http.StatusServiceUnavailable, "primary out of service: " + why
	}
	return http.StatusNotFound, "not the primary: " + why
}

// primary: this node is the lease-holding primary whose database accepts
// writes, and the lease is still good now.
func primary(s Snapshot, now time.Time) (bool, string) {
	switch {
	case s.Role != core.RolePrimary:
		return false, "role " + string(s.Role)
	case s.Fenced:
		return false, "its database is fenced"
	case s.WritableUntil.IsZero():
		return false, "it holds no lease"
	case !now.Before(s.WritableUntil):
		return false, fmt.Sprintf("its lease lapsed %v ago (no renewal acknowledged by the voters)", now.Sub(s.WritableUntil).Round(time.Millisecond))
	case !s.DB.Up:
		return false, "its database does not answer"
	case s.DB.InRecovery:
		return false, "its database is still in recovery"
	}
	return true, ""
}

func primaryBody(s Snapshot, now time.Time) string {
	return fmt.Sprintf("primary: lease good for another %v, database accepts writes", s.WritableUntil.Sub(now).Round(time.Millisecond))
}

// dbUp: the last probe of the local database succeeded and is recent.
func dbUp(s Snapshot, now time.Time) (bool, string) {
	switch {
	case s.Role == core.RoleWitness:
		return false, "a witness has no database"
	case !s.DB.Up:
		return false, "the database does not answer"
	case now.Sub(s.DB.At) > s.ProbeMaxAge:
		return false, fmt.Sprintf("the last database probe is %v old, more than %v: in doubt", now.Sub(s.DB.At).Round(time.Millisecond), s.ProbeMaxAge)
	}
	return true, ""
}

// replica: a standby whose database is in recovery, recently probed, and
// within lim if one is set.
func replica(s Snapshot, now time.Time, lim limit) (bool, string) {
	if s.Role != core.RoleStandby {
		return false, "role " + string(s.Role)
	}
	if ok, why := dbUp(s, now); !ok {
		return false, why
	}
	if !s.DB.InRecovery {
		return false, "its database is not in recovery"
	}
	if lim.set {
		if !s.Lag.Known {
			return false, "the primary's position is unknown, so the lag is in doubt"
		}
		if lim.bytes > 0 && s.Lag.Bytes > lim.bytes {
			return false, fmt.Sprintf("replay is %d bytes behind, more than %d", s.Lag.Bytes, lim.bytes)
		}
		if lim.dur > 0 && !s.Lag.BehindSince.IsZero() && now.Sub(s.Lag.BehindSince) > lim.dur {
			return false, fmt.Sprintf("replay has been behind for %v, more than %v", now.Sub(s.Lag.BehindSince).Round(time.Millisecond), lim.dur)
		}
	}
	return true, ""
}

func lagBody(s Snapshot, now time.Time) string {
	switch {
	case !s.Lag.Known:
		return "lag unknown"
	case s.Lag.BehindSince.IsZero():
		return "caught up"
	}
	return fmt.Sprintf("%d bytes behind for %v", s.Lag.Bytes, now.Sub(s.Lag.BehindSince).Round(time.Millisecond))
}

// limit is a parsed ?lag=: bytes or a duration.
type limit struct {
	set   bool
	bytes uint64
	dur   time.Duration
}

// lagLimit reads ?lag=; a malformed value is a 400 naming the argument.
func lagLimit(q url.Values) (limit, int, string) {
	v, ok := q["lag"]
	if !ok {
		return limit{}, 0, ""
	}
	lim, err := parseLag(v[0])
	if err != nil {
		return limit{}, http.StatusBadRequest, err.Error()
	}
	return lim, 0, ""
}

// sizeUnits are PostgreSQL's (and Patroni's) memory units, powers of 1024.
var sizeUnits = []struct {
	suffix string
	mult   uint64
}{{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"kB", 1 << 10}, {"KB", 1 << 10}, {"B", 1}}

// parseLag reads a lag limit: a number of bytes ("1048576"), a size with
// PostgreSQL's units ("16kB", "64MB", "1GB"), or a Go duration ("500ms",
// "10s").
func parseLag(v string) (limit, error) {
	bad := fmt.Errorf("lag=%q: want bytes (1048576), a size (16kB, 64MB, 1GB) or a duration (500ms, 10s), greater than zero", v)
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		if n == 0 {
			return limit{}, bad
		}
		return limit{set: true, bytes: n}, nil
	}
	for _, u := range sizeUnits {
		if num, ok := strings.CutSuffix(v, u.suffix); ok {
			n, err := strconv.ParseUint(num, 10, 64)
			if err != nil || n == 0 || n > (1<<64-1)/u.mult {
				return limit{}, bad
			}
			return limit{set: true, bytes: n * u.mult}, nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return limit{}, bad
	}
	return limit{set: true, dur: d}, nil
}
