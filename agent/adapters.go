package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/openefm/efm/fencing"
	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/hooks"
	"github.com/openefm/efm/internal/membership"
	"github.com/openefm/efm/internal/notify"
	"github.com/openefm/efm/internal/pg"
)

// This file binds the shell's small interfaces (deps.go) to the packages
// that do the work.

func toStatus(st pg.Status) dbStatus {
	return dbStatus{
		InRecovery:   st.InRecovery,
		ReceivedLSN:  st.ReceivedLSN,
		ReplayLSN:    st.ReplayLSN,
		CurrentLSN:   st.CurrentLSN,
		ReplayPaused: st.ReplayPaused,
		Timeline:     st.Timeline,
		Upstream:     st.SenderHost,
		WALReceiver:  walReceiver(st),
	}
}

// walReceiver is the standby's WAL receiver state for the core; a receiver
// db.user may not see is reported as such, never as "not streaming".
func walReceiver(st pg.Status) string {
	if st.WALReceiverStatus == "" && st.WALReceiverPID != 0 {
		return core.WALReceiverHidden
	}
	return st.WALReceiverStatus
}

// pgLocal is the local database.
type pgLocal struct {
	db   *pg.DB
	port int
	// restartTimeout is restart.connection.timeout: how long to wait for a
	// started database to accept connections.
	restartTimeout time.Duration
	// remote reaches the new primary for a rejoin (rejoin.go); self is
	// this node's address, which names its slot there.
	remote *pgRemote
	self   string
}

func (l *pgLocal) Probe(ctx context.Context) (dbStatus, error) {
	st, err := l.db.Probe(ctx)
	ds := toStatus(st)
	if err == nil && st.InRecovery && ds.Upstream == "" {
		// Not streaming right now (or no pg_read_all_stats): whom the
		// standby is configured to follow is in primary_conninfo.
		if rs, rerr := l.db.ReplicationSettings(ctx); rerr == nil {
			if ci, perr := pg.ParseConninfo(rs.PrimaryConninfo); perr == nil {
				ds.Upstream, _ = ci.Get("host")
			}
		}
	}
	return ds, err
}

func (l *pgLocal) PostmasterGone(ctx context.Context) (bool, string) {
	return l.db.PostmasterGone(ctx)
}

// Stop asks for a fast shutdown, which terminates every session and refuses
// new ones at once (writes stop there; the checkpoint after is only for a
// clean restart). If that has not finished when the deadline is near, the
// server is stopped immediately instead: when fencing, a stopped database
// matters more than a clean one.
func (l *pgLocal) Stop(ctx context.Context) error {
	fast := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		fast, cancel = context.WithDeadline(ctx, dl.Add(-time.Until(dl)/3))
		defer cancel()
	}
	err := l.db.Stop(fast, pg.StopFast)
	if err == nil {
		return nil
	}
	if ierr := l.db.Stop(ctx, pg.StopImmediate); ierr != nil {
		return fmt.Errorf("fast stop: %v; immediate stop: %w", err, ierr)
	}
	return nil
}

func (l *pgLocal) Start(ctx context.Context) error {
	if err := l.db.Start(ctx); err != nil {
		return err
	}
	return l.db.WaitConnect(ctx, l.restartTimeout)
}

func (l *pgLocal) Promote(ctx context.Context, atLeast uint32) error {
	return l.db.PromoteOnly(ctx, atLeast)
}
func (l *pgLocal) Checkpoint(ctx context.Context) error { return l.db.Checkpoint(ctx) }
func (l *pgLocal) CheckpointAfterPromotion(ctx context.Context) {
	l.db.CheckpointAfterPromotion(ctx)
}
func (l *pgLocal) Fence(ctx context.Context) error        { return l.db.Fence(ctx, false) }
func (l *pgLocal) Unfence(ctx context.Context) error      { return l.db.RemoveStandbySignal(ctx) }
func (l *pgLocal) PauseReplay(ctx context.Context) error  { return l.db.PauseReplay(ctx) }
func (l *pgLocal) ResumeReplay(ctx context.Context) error { return l.db.ResumeReplay(ctx) }
func (l *pgLocal) DetachReceiver(ctx context.Context) error {
	return l.db.DetachReceiver(ctx)
}

func (l *pgLocal) DivergedFrom(ctx context.Context, primary string) (bool, string, error) {
	if l.remote == nil {
		return false, "", errors.New("no connection to the other nodes' databases")
	}
	prim, err := l.remote.db(primary)
	if err != nil {
		return false, "", fmt.Errorf("connecting to the primary %s: %w", primary, err)
	}
	return l.db.DivergedFrom(ctx, prim)
}
func (l *pgLocal) Close(ctx context.Context) error { return l.db.Close(ctx) }

func (l *pgLocal) Follow(ctx context.Context, primary string) error {
	if err := l.db.Repoint(ctx, primary, l.port); err != nil {
		return err
	}
	return l.db.WaitStreaming(ctx, primary, l.port, l.restartTimeout)
}

func (l *pgLocal) FollowWith(ctx context.Context, primary string, src replSettings) error {
	return l.db.FollowAsStandbyThroughSlot(ctx, pg.ReplicationSettings{PrimaryConninfo: src.PrimaryConninfo, RestoreCommand: src.RestoreCommand}, primary, l.port, src.Slot)
}

// pgRemote probes other nodes' databases with the local connection
// settings and the peer's address.
type pgRemote struct {
	base pg.Config
	log  *slog.Logger
	mu   sync.Mutex
	dbs  map[string]*pg.DB
}

func (r *pgRemote) db(host string) (*pg.DB, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	db := r.dbs[host]
	if db == nil {
		c := r.base
		c.Node, c.Host, c.ReuseConnectionCount = host, host, 0
		var err error
		if db, err = pg.New(c, r.log); err != nil {
			return nil, err
		}
		r.dbs[host] = db
	}
	return db, nil
}

func (r *pgRemote) Probe(ctx context.Context, host string) (dbStatus, error) {
	db, err := r.db(host)
	if err != nil {
		return dbStatus{}, err
	}
	st, err := db.Probe(ctx)
	return toStatus(st), err
}

func (r *pgRemote) ReplicationSettings(ctx context.Context, host string) (replSettings, error) {
	db, err := r.db(host)
	if err != nil {
		return replSettings{}, err
	}
	rs, err := db.ReplicationSettings(ctx)
	return replSettings{PrimaryConninfo: rs.PrimaryConninfo, RestoreCommand: rs.RestoreCommand}, err
}

// fencingVIP is the virtual IP through the fencing package.
type fencingVIP struct {
	m   *fencing.Manager
	log *slog.Logger
	ip  string
}

func (v *fencingVIP) Address() string { return v.ip }

func (v *fencingVIP) Acquire(ctx context.Context) error {
	announced, err := v.m.Acquire(ctx)
	if err != nil {
		return err
	}
	// The gratuitous ARPs go on in the background after the first one.
	go func() {
		if err := <-announced; err != nil {
			v.log.Warn("announcing the VIP", "vip", v.ip, "err", err)
		}
	}()
	return nil
}

func (v *fencingVIP) Release(ctx context.Context) error { return v.m.Release(ctx) }

func (v *fencingVIP) Held() (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return v.m.Held(ctx)
}

// Reachable is one round of the fencing package's fail-closed VIP check:
// only a probe that positively got no answer reads as unreachable.
func (v *fencingVIP) Reachable(ctx context.Context) (bool, error) {
	free, err := v.m.VIPFree(ctx, v.ip)
	if err != nil {
		return false, err
	}
	return !free, nil
}

// pingServer is the orphan check against ping.server.ip.
type pingServer struct {
	m  *fencing.Manager
	ip string
}

func (p *pingServer) Reachable(ctx context.Context) (bool, error) {
	return p.m.PingServer(ctx, p.ip)
}

// memberTransport carries core messages over the membership layer.
type memberTransport struct {
	m       *membership.Membership
	msgs    chan inbound
	changes chan struct{}
}

func newTransport(ctx context.Context, m *membership.Membership) *memberTransport {
	t := &memberTransport{m: m, msgs: make(chan inbound, 256), changes: make(chan struct{}, 1)}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case msg, ok := <-m.Messages():
				if !ok {
					return
				}
				select {
				case t.msgs <- inbound{From: msg.From, Payload: msg.Payload}:
				case <-ctx.Done():
					return
				}
			case _, ok := <-m.Events():
				if !ok {
					return
				}
				// Coalesce: the shell reads the whole view anyway.
				select {
				case t.changes <- struct{}{}:
				default:
				}
			}
		}
	}()
	return t
}

// Send uses UDP for small messages, as heartbeats and votes are: the core
// tolerates loss, and UDP never blocks on a dead peer's TCP handshake.
func (t *memberTransport) Send(ctx context.Context, to string, b []byte) error {
	if len(b) < 1200 {
		return t.m.SendBestEffort(to, b)
	}
	return t.m.Send(ctx, to, b)
}

func (t *memberTransport) Messages() <-chan inbound    { return t.msgs }
func (t *memberTransport) Changes() <-chan struct{}    { return t.changes }
func (t *memberTransport) SetLocalState(s string)      { t.m.SetLocalState(s) }
func (t *memberTransport) Leave(d time.Duration) error { return t.m.Leave(d) }
func (t *memberTransport) Shutdown() error             { return t.m.Shutdown() }

func (t *memberTransport) View() core.MembershipChanged {
	st := t.m.Status()
	v := core.MembershipChanged{ResetGen: st.ResetGen}
	if st.Version > 0 {
		// The shared state is loaded (or seeded): its set-priority values
		// are the cluster's, even when there are none.
		v.Priorities = make(map[core.NodeID]int, len(st.Priorities))
		for name, pr := range st.Priorities {
			v.Priorities[core.NodeID(name)] = pr
		}
	}
	present := map[string]bool{}
	for _, m := range st.Members {
		present[m.Name] = true
		cm := core.Member{ID: core.NodeID(m.Name), Kind: core.KindDatabase, State: core.MemberAlive}
		if m.Kind == membership.KindWitness {
			cm.Kind = core.KindWitness
		}
		if m.State == "DOWN" {
			cm.State = core.MemberDown
		}
		v.Members = append(v.Members, cm)
	}
	// A clean leave is not a failure: the core must hear of it, or it
	// keeps a stopped agent counted as DOWN until reset-members.
	for _, name := range st.Left {
		if !present[name] {
			v.Members = append(v.Members, core.Member{ID: core.NodeID(name), Kind: core.KindDatabase, State: core.MemberLeft})
		}
	}
	return v
}

// hookRunner runs the configured script.* hooks.
type hookRunner struct {
	r        *hooks.Runner
	commands map[core.Script]string
	nodeType func() string
}

func (h *hookRunner) Run(ctx context.Context, s core.Script, ph core.Placeholders, timeout time.Duration) (int, string) {
	cmd := h.commands[s]
	if cmd == "" {
		return 0, ""
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := h.r.Run(ctx, hooks.Kind(s), cmd, hooks.Vars{
		NewPrimary: string(ph.NewPrimary), FailedPrimary: string(ph.FailedPrimary),
		Target: string(ph.Host), TargetType: ph.Type, NodeType: h.nodeType(),
	})
	code := res.ExitCode
	if res.Err != nil && code == 0 {
		code = -1
	}
	return code, res.Output
}

// notifier delivers core notifications through the notify package.
type notifyAdapter struct{ n *notify.Notifier }

func (a notifyAdapter) Notify(ctx context.Context, n core.Notify) {
	a.n.Send(ctx, notify.Message{Subject: n.Subject, Node: string(n.Node), Text: n.Text})
}
