package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/openefm/efm/internal/config"
	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/health"
)

// healthState is what the shell keeps for the health endpoints: the last
// snapshot, published after every step for the HTTP server to read without
// a lock, and what the next snapshot builds on. Only the loop writes it.
type healthState struct {
	snap  atomic.Pointer[health.Snapshot]
	db    health.DBProbe
	lag   health.Lag
	local core.LocalDBProbe // the last probe the core was given
}

// publishHealth builds the snapshot from the core's view after a step.
// The lease becomes a wall-clock deadline here: the core's clock is
// time.Since(s.start), so s.start plus a core time is that instant, with
// Go's monotonic reading. The deadline is the end of the lease minus the
// fencing allowance, the moment the core starts fencing, so the endpoint
// stops vouching for a primary before its database can stop accepting
// writes, whether or not the loop runs again.
func (s *shell) publishHealth(ev core.Event, st core.ClusterView) {
	h := s.health
	now := time.Now()
	if pr, ok := ev.(core.LocalDBProbe); ok {
		h.local = pr
		h.db = health.DBProbe{Up: pr.Reachable, InRecovery: pr.InRecovery, At: now}
	}
	tm, params := s.node.Timing(), s.node.Params()
	snap := health.Snapshot{
		Role: st.Role, Fenced: s.node.Persisted().Fenced, DB: h.db,
		// A probe is issued every local.period and may take local.timeout:
		// one missed probe is tolerated, two are in doubt.
		ProbeMaxAge: 2*params.LocalPeriod + params.LocalTimeout,
		SteppedAt:   now,
		// The loop ticks several times per renewal interval; missing a
		// whole interval means the primary would miss a renewal round.
		LoopMaxGap: tm.RenewInterval,
	}
	if st.HasLease {
		snap.WritableUntil = s.start.Add(st.LeaseUntil - tm.FencingAllowance)
	}
	var primaryLSN core.LSN
	known := false
	for _, m := range st.Members {
		if m.ID == st.Primary && m.ID != st.Self && m.State == core.MemberAlive && m.LastSeen > 0 {
			primaryLSN, known = m.Status.CurrentLSN, true
		}
	}
	h.lag = health.TrackLag(h.lag, primaryLSN, h.local.ReplayLSN, known && h.local.Reachable, now)
	snap.Lag = h.lag
	h.snap.Store(&snap)
}

// healthHandler answers the health endpoints from the last snapshot; before
// the first one exists every answer is 503 (in doubt). /metrics is served
// here when metrics.address is unset.
type healthHandler struct {
	h         *healthState
	metrics   http.Handler // nil when metrics.address serves them
	elsewhere string       // metrics.address, for the 404 that points there
}

func (hh healthHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path == "/metrics" {
		if hh.metrics != nil {
			hh.metrics.ServeHTTP(w, r)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "metrics are served on metrics.address %s\n", hh.elsewhere)
		return
	}
	snap := hh.h.snap.Load()
	if snap == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "agent starting")
		return
	}
	code, body := health.Answer(r.URL.Path, r.URL.Query(), *snap, time.Now())
	w.WriteHeader(code)
	fmt.Fprintln(w, body)
}

// healthAddress is where the endpoints listen: bind.address's host, the
// address the cluster and a load balancer know the node by.
func healthAddress(cfg *config.Config) string {
	return net.JoinHostPort(cfg.BindAddress.Host, strconv.Itoa(cfg.PrimaryHealthCheckPort))
}

// serveHealth listens on primary.health.check.port, if set. It comes after
// the metrics (it may serve them) and before the admin socket; until the
// loop's first step every answer is 503. Its undo closes the listener
// before the agent leaves the cluster, so no answer outlives the loop.
func (p *process) serveHealth(context.Context) error {
	cfg, s := p.cfg, p.s
	if cfg.PrimaryHealthCheckPort == 0 {
		return nil
	}
	addr := healthAddress(cfg)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("primary.health.check.port %d: %w", cfg.PrimaryHealthCheckPort, err)
	}
	s.health = &healthState{}
	hh := healthHandler{h: s.health, elsewhere: cfg.MetricsAddress.String()}
	if cfg.MetricsAddress.IsZero() {
		hh.metrics = s.metrics.Handler()
	}
	srv := &http.Server{Handler: hh, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Error("health endpoint stopped", "addr", addr, "err", err)
		}
	}()
	p.undo.push(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	p.log.Info("serving health endpoints", "addr", ln.Addr().String())
	return nil
}
