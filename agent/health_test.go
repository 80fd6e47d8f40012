package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/internal/core"
)

// healthShell is a shell around a fresh core whose clock started an hour
// ago, publishing health snapshots.
func healthShell(t *testing.T) *shell {
	t.Helper()
	node, err := core.New(core.DefaultParams("10.0.0.1"), core.Persisted{})
	if err != nil {
		t.Fatal(err)
	}
	return &shell{log: slog.New(slog.DiscardHandler), node: node, self: "10.0.0.1", start: time.Now().Add(-time.Hour), health: &healthState{}}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// The primary's 200 ends FencingAllowance before its lease does, the
// moment the core starts fencing, and it ends on the request path's own
// clock: a loop that stops publishing cannot keep it.
func TestHealthPrimaryStopsVouchingAtFencing(t *testing.T) {
	s := healthShell(t)
	hh := healthHandler{h: s.health}
	if code, body := get(t, hh, "/primary"); code != http.StatusServiceUnavailable {
		t.Errorf("before the first snapshot: %d %q, want 503", code, body)
	}
	fa := s.node.Timing().FencingAllowance
	primary := core.ClusterView{Self: "10.0.0.1", Role: core.RolePrimary, Primary: "10.0.0.1", HasLease: true}
	writable := core.LocalDBProbe{Reachable: true}

	// Lease ends within the allowance: the core is fencing, no 200.
	primary.LeaseUntil = s.now() + fa/2
	s.publishHealth(writable, primary)
	if code, body := get(t, hh, "/"); code != http.StatusServiceUnavailable {
		t.Errorf("lease ending in half the fencing allowance: / %d %q, want 503", code, body)
	}

	// A lease whose fencing point is a moment away: 200 now, then 503
	// without another snapshot (the loop is stalled).
	primary.LeaseUntil = s.now() + fa + 200*time.Millisecond
	s.publishHealth(writable, primary)
	if code, body := get(t, hh, "/primary"); code != http.StatusOK {
		t.Fatalf("primary holding its lease: /primary %d %q, want 200", code, body)
	}
	want := s.start.Add(primary.LeaseUntil - fa)
	if got := s.health.snap.Load().WritableUntil; !got.Equal(want) {
		t.Errorf("WritableUntil %v, want start+LeaseUntil-FencingAllowance %v", got, want)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := get(t, hh, "/primary")
		if code == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/primary still 200 10s after the writable deadline")
		}
		time.Sleep(10 * time.Millisecond) // polling the endpoint, not a synchronisation
	}
	if now := time.Now(); now.Before(want) {
		t.Errorf("/primary stopped answering 200 at %v, before its deadline %v", now, want)
	}
	if code, body := get(t, hh, "/"); code != http.StatusServiceUnavailable || !strings.Contains(body, "lease lapsed") {
		t.Errorf("after the deadline: / %d %q, want 503 saying the lease lapsed", code, body)
	}
}

// A standby's /replica?lag= measures replay against the position the
// primary's agent last reported; without a report the lag is in doubt.
func TestHealthReplicaLagFromThePrimarysReport(t *testing.T) {
	s := healthShell(t)
	hh := healthHandler{h: s.health}
	view := func(primaryLSN core.LSN, heard bool) core.ClusterView {
		v := core.ClusterView{Self: "10.0.0.2", Role: core.RoleStandby, Primary: "10.0.0.1"}
		p := core.MemberStatus{Member: core.Member{ID: "10.0.0.1", Kind: core.KindDatabase, State: core.MemberAlive},
			Status: core.NodeStatus{Role: core.RolePrimary, CurrentLSN: primaryLSN}}
		if heard {
			p.LastSeen = s.now()
		}
		v.Members = []core.MemberStatus{p, {Member: core.Member{ID: "10.0.0.2", Kind: core.KindDatabase, State: core.MemberAlive}}}
		return v
	}
	probe := core.LocalDBProbe{Reachable: true, InRecovery: true, ReplayLSN: 1000}
	tests := []struct {
		name       string
		primaryLSN core.LSN
		heard      bool
		path       string
		code       int
	}{
		{"caught up", 1000, true, "/replica?lag=1", 200},
		{"within the limit", 1500, true, "/replica?lag=1kB", 200},
		{"beyond the limit", 3000, true, "/replica?lag=1kB", 503},
		{"primary never heard: in doubt", 1000, false, "/replica?lag=1GB", 503},
		{"primary never heard, no limit asked", 1000, false, "/replica", 200},
		{"malformed limit", 1000, true, "/replica?lag=soon", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.publishHealth(probe, view(tt.primaryLSN, tt.heard))
			if code, body := get(t, hh, tt.path); code != tt.code {
				t.Errorf("%s: %d %q, want %d", tt.path, code, body, tt.code)
			}
		})
	}
}

// freePort is a TCP port nothing listens on at host, for now.
func freePort(t *testing.T, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// A running agent answers on primary.health.check.port from its first
// step, serves /metrics there without metrics.address, and frees the port
// when it stops.
func TestRunServesHealthEndpoints(t *testing.T) {
	probe := witnessRunConfig(t, "")
	port := freePort(t, probe.BindAddress.Host)
	cfg := witnessRunConfig(t, fmt.Sprintf("primary.health.check.port=%d\n", port))
	base := fmt.Sprintf("http://%s", healthAddress(cfg))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, Options{Stderr: &stderr}) }()

	fetch := func(path string) (int, string, error) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, err := fetch("/liveness")
		if err == nil && code == http.StatusOK {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned before serving: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/liveness not 200 after 30s (last %d, %v):\n%s", code, err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond) // polling the endpoint, not a synchronisation
	}
	for _, tt := range []struct {
		path string
		code int
		body string
	}{
		{"/", 404, "role Witness"},
		{"/primary", 503, "not the primary"},
		{"/replica", 503, "not a replica"},
		{"/health", 503, "witness has no database"},
		{"/readiness", 503, "neither"},
		{"/metrics", 200, `efm_agent_role{cluster="efm"`},
	} {
		code, body, err := fetch(tt.path)
		if err != nil || code != tt.code || !strings.Contains(body, tt.body) {
			t.Errorf("GET %s: %d %q %v, want %d with %q", tt.path, code, body, err, tt.code, tt.body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	assertReleased(t, cfg)
	if ln, err := net.Listen("tcp", healthAddress(cfg)); err != nil {
		t.Errorf("health port still in use after the stop: %v", err)
	} else {
		ln.Close()
	}
}

// Bad ports are refused by the start checks (and so by check-conf), one
// line naming primary.health.check.port and what would be accepted.
func TestPreflightRefusesBadHealthPort(t *testing.T) {
	base := witnessRunConfig(t, "")
	host := base.BindAddress.Host
	busy, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	busyPort := busy.Addr().(*net.TCPAddr).Port
	free := freePort(t, host)
	tests := []struct {
		name  string
		extra string
		want  []string // parts of the one error line; nil = accepted
	}{
		{"free port", fmt.Sprintf("primary.health.check.port=%d\n", free), nil},
		{"port already in use", fmt.Sprintf("primary.health.check.port=%d\n", busyPort),
			[]string{"primary.health.check.port", fmt.Sprintf("%s:%d", host, busyPort), "address already in use", "accepted: a free port"}},
		{"port of bind.address", "primary.health.check.port=7800\n",
			[]string{"primary.health.check.port", "bind.address", "accepted: another free port"}},
		{"port of metrics.address on the same address", fmt.Sprintf("primary.health.check.port=%d\nmetrics.address=%s:%d\n", free, host, free),
			[]string{"primary.health.check.port", "metrics.address", "same address", "accepted"}},
		{"port of metrics.address on the wildcard address", fmt.Sprintf("primary.health.check.port=%d\nmetrics.address=0.0.0.0:%d\n", free, free),
			[]string{"primary.health.check.port", "metrics.address"}},
		{"port of metrics.address on another address", fmt.Sprintf("primary.health.check.port=%d\nmetrics.address=127.0.0.1:%d\n", free, free), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := witnessRunConfig(t, tt.extra)
			cfg.BindAddress.Host = host // the address the ports were chosen on
			var lines []string
			for _, err := range Preflight(context.Background(), cfg) {
				lines = append(lines, err.Error())
			}
			if tt.want == nil {
				if len(lines) != 0 {
					t.Errorf("refused: %q", lines)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("got %d error lines %q, want one", len(lines), lines)
			}
			for _, w := range tt.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("error %q lacks %q", lines[0], w)
				}
			}
		})
	}
}
