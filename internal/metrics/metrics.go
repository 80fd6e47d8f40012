package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Roles are the values of the role label, EFM's agent types.
var Roles = []string{"Primary", "Standby", "Witness", "Idle", "Promoting", "Unknown"}

// States are the values of the members' state label.
var States = []string{"alive", "DOWN"}

// Agent is one agent's metrics, on a registry of its own.
type Agent struct {
	reg      *prometheus.Registry
	role     *prometheus.GaugeVec
	epoch    prometheus.Gauge
	lease    prometheus.Gauge
	dbUp     prometheus.Gauge
	members  *prometheus.GaugeVec
	actions  *prometheus.CounterVec
	notified *prometheus.CounterVec
}

// New returns the metrics of the agent of cluster on node. vipHeld, when
// not nil, is asked at each scrape whether the VIP is on this node.
func New(cluster, node string, vipHeld func() bool) *Agent {
	labels := prometheus.Labels{"cluster": cluster, "node": node}
	a := &Agent{reg: prometheus.NewRegistry()}
	a.role = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "efm_agent_role", ConstLabels: labels,
		Help: "1 for the role this agent reports (Primary, Standby, Witness, Idle, Promoting), 0 for the others."}, []string{"role"})
	a.epoch = prometheus.NewGauge(prometheus.GaugeOpts{Name: "efm_epoch", ConstLabels: labels,
		Help: "The highest failover epoch this agent follows; it grows by one per promotion."})
	a.lease = prometheus.NewGauge(prometheus.GaugeOpts{Name: "efm_primary_lease_held", ConstLabels: labels,
		Help: "1 while this agent is primary and holds a lease renewed by at least half of the voters."})
	a.dbUp = prometheus.NewGauge(prometheus.GaugeOpts{Name: "efm_local_database_up", ConstLabels: labels,
		Help: "1 when the last check of the local database succeeded."})
	a.members = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "efm_members", ConstLabels: labels,
		Help: "Cluster members as this agent sees them, by state; DOWN members still count in the quorum."}, []string{"state"})
	a.actions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "efm_actions_total", ConstLabels: labels,
		Help: "Actions the failover core asked this agent to perform, by kind."}, []string{"action"})
	a.notified = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "efm_notifications_total", ConstLabels: labels,
		Help: "Notifications raised by this agent, by level."}, []string{"level"})
	if vipHeld != nil {
		a.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "efm_vip_held", ConstLabels: labels,
			Help: "1 when the virtual IP is on this node."}, func() float64 { return b2f(vipHeld()) }))
	}
	a.reg.MustRegister(a.role, a.epoch, a.lease, a.dbUp, a.members, a.actions, a.notified,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, r := range Roles {
		a.role.WithLabelValues(r)
	}
	for _, s := range States {
		a.members.WithLabelValues(s)
	}
	return a
}

// Snapshot is what the agent reports after each step of its core.
type Snapshot struct {
	Role    string
	Epoch   uint64
	Lease   bool
	DBUp    bool
	VIPHeld bool
	Alive   int
	Down    int
}

// Set publishes s.
func (a *Agent) Set(s Snapshot) {
	for _, r := range Roles {
		v := 0.0
		if r == s.Role {
			v = 1
		}
		a.role.WithLabelValues(r).Set(v)
	}
	a.epoch.Set(float64(s.Epoch))
	a.lease.Set(b2f(s.Lease))
	a.dbUp.Set(b2f(s.DBUp))
	a.members.WithLabelValues("alive").Set(float64(s.Alive))
	a.members.WithLabelValues("DOWN").Set(float64(s.Down))
}

// Action counts one core action of kind.
func (a *Agent) Action(kind string) { a.actions.WithLabelValues(kind).Inc() }

// Notification counts one notification at level.
func (a *Agent) Notification(level string) { a.notified.WithLabelValues(level).Inc() }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Handler serves the metrics.
func (a *Agent) Handler() http.Handler {
	return promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{})
}

// Serve listens on addr and serves /metrics until ctx ends.
func (a *Agent) Serve(ctx context.Context, addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics.address %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", a.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "addr", addr, "err", err)
		}
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	return nil
}
