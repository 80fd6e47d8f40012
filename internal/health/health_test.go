package health

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/wal"
)

var t0 = time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)

// snap is a healthy node of the given role at t0: a primary holding its
// lease for another 5 s, a standby caught up, a witness without database.
func snap(role core.Role) Snapshot {
	s := Snapshot{Role: role, ProbeMaxAge: 20 * time.Second, SteppedAt: t0.Add(-100 * time.Millisecond), LoopMaxGap: time.Second}
	switch role {
	case core.RolePrimary:
		s.WritableUntil = t0.Add(5 * time.Second)
		s.DB = DBProbe{Up: true, At: t0.Add(-time.Second)}
	case core.RoleStandby, core.RoleIdle, core.RolePromoting:
		s.DB = DBProbe{Up: true, InRecovery: true, At: t0.Add(-time.Second)}
		s.Lag = Lag{Known: true}
	}
	return s
}

func with(s Snapshot, f func(*Snapshot)) Snapshot { f(&s); return s }

// paths is every path the table checks, in order, with the code each row
// expects at that index.
var paths = []string{"/", "/primary", "/replica", "/read-only", "/health", "/liveness", "/readiness", "/anything"}

func TestAnswer(t *testing.T) {
	behind := func(s *Snapshot) { s.Lag = Lag{Known: true, Bytes: 2 << 20, BehindSince: t0.Add(-30 * time.Second)} }
	tests := []struct {
		name  string
		s     Snapshot
		now   time.Time
		codes []int // per paths
	}{
		{"lease-holding primary whose database accepts writes", snap(core.RolePrimary), t0,
			[]int{200, 200, 503, 200, 200, 200, 200, 200}},
		{"primary one instant before its writable deadline, loop silent since", snap(core.RolePrimary), t0.Add(5*time.Second - time.Nanosecond),
			[]int{200, 200, 503, 200, 200, 503, 200, 200}},
		{"primary at its writable deadline with a stalled loop: 503 at once", snap(core.RolePrimary), t0.Add(5 * time.Second),
			[]int{503, 503, 503, 503, 200, 503, 503, 503}},
		{"primary without a lease yet (new primary before its first acknowledged round)",
			with(snap(core.RolePrimary), func(s *Snapshot) { s.WritableUntil = time.Time{} }), t0,
			[]int{503, 503, 503, 503, 200, 200, 503, 503}},
		{"primary whose database still reports recovery (promotion under way)",
			with(snap(core.RolePrimary), func(s *Snapshot) { s.DB.InRecovery = true }), t0,
			[]int{503, 503, 503, 503, 200, 200, 503, 503}},
		{"primary whose database probe failed",
			with(snap(core.RolePrimary), func(s *Snapshot) { s.DB = DBProbe{At: t0} }), t0,
			[]int{503, 503, 503, 503, 503, 200, 503, 503}},
		{"fenced old primary, idle, database stopped",
			with(snap(core.RoleIdle), func(s *Snapshot) { s.Fenced = true; s.DB = DBProbe{At: t0} }), t0,
			[]int{503, 503, 503, 503, 503, 200, 503, 503}},
		{"idle node whose database accepts writes without a lease",
			with(snap(core.RoleIdle), func(s *Snapshot) { s.DB.InRecovery = false }), t0,
			[]int{503, 503, 503, 503, 200, 200, 503, 503}},
		{"streaming standby caught up", snap(core.RoleStandby), t0,
			[]int{404, 503, 200, 200, 200, 200, 200, 404}},
		{"standby whose last probe is older than the probe bound: in doubt",
			with(snap(core.RoleStandby), func(s *Snapshot) { s.DB.At = t0.Add(-21 * time.Second) }), t0,
			[]int{404, 503, 503, 503, 503, 200, 503, 404}},
		{"standby whose database does not answer",
			with(snap(core.RoleStandby), func(s *Snapshot) { s.DB = DBProbe{At: t0} }), t0,
			[]int{404, 503, 503, 503, 503, 200, 503, 404}},
		{"standby 2 MB behind for 30 s, no lag limit asked", with(snap(core.RoleStandby), behind), t0,
			[]int{404, 503, 200, 200, 200, 200, 200, 404}},
		{"promoting candidate", snap(core.RolePromoting), t0,
			[]int{404, 503, 503, 503, 200, 200, 503, 404}},
		{"witness", snap(core.RoleWitness), t0,
			[]int{404, 503, 503, 503, 503, 200, 503, 404}},
		{"agent loop silent for longer than the liveness bound", snap(core.RoleStandby), t0.Add(2 * time.Second),
			[]int{404, 503, 200, 200, 200, 503, 200, 404}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, p := range paths {
				code, body := Answer(p, nil, tt.s, tt.now)
				if code != tt.codes[i] {
					t.Errorf("%s: %d %q, want %d", p, code, body, tt.codes[i])
				}
				if body == "" {
					t.Errorf("%s: empty body", p)
				}
			}
		})
	}
}

func TestAnswerReplicaLag(t *testing.T) {
	caughtUp := snap(core.RoleStandby)
	behind := with(caughtUp, func(s *Snapshot) {
		s.Lag = Lag{Known: true, Bytes: 2 << 20, BehindSince: t0.Add(-30 * time.Second)}
	})
	unknown := with(caughtUp, func(s *Snapshot) { s.Lag = Lag{} })
	tests := []struct {
		name string
		s    Snapshot
		lag  string
		code int
		body string // a part of the body
	}{
		{"caught up within bytes", caughtUp, "1", 200, "caught up"},
		{"2 MB behind within 4MB", behind, "4MB", 200, "behind"},
		{"2 MB behind over 1MB", behind, "1MB", 503, "more than 1048576"},
		{"2 MB behind over 1048575 bytes", behind, "1048575", 503, "2097152 bytes behind"},
		{"2 MB behind within 2048kB", behind, "2048kB", 200, "behind"},
		{"behind 30 s within a minute", behind, "1m", 200, "behind"},
		{"behind 30 s over 10s", behind, "10s", 503, "behind for 30s"},
		{"primary's position unknown: in doubt", unknown, "1GB", 503, "in doubt"},
		{"malformed lag names the argument", caughtUp, "lots", 400, `lag="lots"`},
		{"zero lag refused", caughtUp, "0", 400, "greater than zero"},
		{"negative duration refused", caughtUp, "-1s", 400, "lag="},
		{"overflowing size refused", caughtUp, "99999999999TB", 400, "lag="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range []string{"/replica", "/read-only"} {
				code, body := Answer(p, url.Values{"lag": {tt.lag}}, tt.s, t0)
				if code != tt.code || !strings.Contains(body, tt.body) {
					t.Errorf("%s?lag=%s: %d %q, want %d with %q", p, tt.lag, code, body, tt.code, tt.body)
				}
			}
		})
	}
	// The primary is not subject to a replica's lag limit on /read-only.
	if code, body := Answer("/read-only", url.Values{"lag": {"1"}}, snap(core.RolePrimary), t0); code != http.StatusOK {
		t.Errorf("primary /read-only?lag=1: %d %q, want 200", code, body)
	}
}

func TestTrackLag(t *testing.T) {
	t1 := t0.Add(time.Second)
	tests := []struct {
		name            string
		prev            Lag
		primary, replay uint64
		known           bool
		want            Lag
	}{
		{"no primary known", Lag{Known: true}, 0, 0, false, Lag{}},
		{"primary reported no position", Lag{Known: true}, 0, 5, true, Lag{}},
		{"caught up", Lag{Known: true, Bytes: 5, BehindSince: t0}, 100, 100, true, Lag{Known: true}},
		{"replay ahead of a stale report", Lag{}, 100, 150, true, Lag{Known: true}},
		{"falls behind now", Lag{Known: true}, 150, 100, true, Lag{Known: true, Bytes: 50, BehindSince: t1}},
		{"stays behind since earlier", Lag{Known: true, Bytes: 50, BehindSince: t0}, 180, 120, true, Lag{Known: true, Bytes: 60, BehindSince: t0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TrackLag(tt.prev, wal.LSN(tt.primary), wal.LSN(tt.replay), tt.known, t1)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
