package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/hooks"
	"github.com/openefm/efm/internal/metrics"
)

// shell runs one core.Node: it serialises every event into Step and carries
// out the returned actions. Work that blocks (SQL, pg_ctl, scripts, pings)
// runs on goroutines whose results come back as events, so the loop never
// stalls and the core's timers keep firing while a promotion runs.
type shell struct {
	log   *slog.Logger
	node  *core.Node
	self  core.NodeID
	clust string
	start time.Time // origin of the monotonic clock handed to the core

	db      localDB // nil on a witness
	remote  remoteDBs
	vip     vip    // nil without virtual.ip
	ping    pinger // nil without ping.server.ip
	net     transport
	scripts scriptRunner
	runner  *hooks.Runner // for the custom monitor
	notify  notifier
	state   stateFile
	metrics *metrics.Agent // nil without metrics.address and primary.health.check.port
	health  *healthState   // nil without primary.health.check.port
	roster  roster

	events chan core.Event
	calls  chan adminCall
	dbq    chan func()  // database operations, one at a time, in order
	pgpool *pgpoolShell // nil without pgpool.enable
	pgq    chan func()  // Pgpool actions, one at a time, in order
	stopCl chan struct{}
	wg     sync.WaitGroup

	mu       sync.Mutex // guards the fields below, read by admin requests
	view     core.ClusterView
	role     core.Role
	lastDB   *dbStatus // last local probe; nil if it failed
	lastErr  string
	nextSeq  uint64
	replies  map[uint64]chan core.AdminReply
	stopOnce sync.Once
}

// adminCall is an admin command turned into a core event, answered by the
// core's AdminReply with the same Seq.
type adminCall struct {
	ev    func(seq uint64) core.Event
	reply chan core.AdminReply
}

// now is the core's clock: monotonic time since the agent started.
func (s *shell) now() time.Duration { return time.Since(s.start) }

func (s *shell) run(ctx context.Context) {
	tick := time.NewTicker(s.node.Params().TickInterval())
	defer tick.Stop()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.dbWorker(ctx) }()
	if s.pgpool != nil {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.worker(ctx, s.pgq) }()
	}
	s.step(ctx, core.Start{})
	s.step(ctx, s.net.View())
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.stopCl:
			return
		case <-tick.C:
			s.step(ctx, core.Tick{})
		case ev := <-s.events:
			s.step(ctx, ev)
		case <-s.net.Changes():
			s.step(ctx, s.net.View())
		case m := <-s.net.Messages():
			msg, err := core.Decode(m.Payload, s.clust)
			if err != nil {
				s.step(ctx, core.UndecodableMessage{From: core.NodeID(m.From), Err: err})
				continue
			}
			s.step(ctx, core.MessageReceived{From: core.NodeID(m.From), Msg: msg})
		case c := <-s.calls:
			s.nextSeq++
			seq := s.nextSeq<<8 | 0xAD // admin sequence numbers never collide with the core's
			s.mu.Lock()
			s.replies[seq] = c.reply
			s.mu.Unlock()
			s.step(ctx, c.ev(seq))
		}
	}
}

// stopping gives the core its last word on a clean shutdown.
func (s *shell) stopping(ctx context.Context) {
	s.step(ctx, core.Stopping{})
}

// post hands a result back to the loop; it never blocks a worker forever.
func (s *shell) post(ctx context.Context, ev core.Event) {
	select {
	case s.events <- ev:
	case <-ctx.Done():
	}
}

func (s *shell) step(ctx context.Context, ev core.Event) {
	acts := s.node.Step(s.now(), ev)
	s.execute(ctx, acts)
	st := s.node.Status()
	if s.health != nil {
		s.publishHealth(ev, st)
	}
	s.mu.Lock()
	s.view = st
	s.role = s.node.Role()
	dbUp := s.lastDB != nil
	s.mu.Unlock()
	if s.metrics != nil {
		snap := metrics.Snapshot{Role: string(st.Role), Epoch: st.Epoch, Lease: st.HasLease, DBUp: dbUp}
		for _, m := range st.Members {
			switch m.State {
			case core.MemberAlive:
				snap.Alive++
			case core.MemberDown:
				snap.Down++
			}
		}
		s.metrics.Set(snap)
		for _, a := range acts {
			s.metrics.Action(actionName(a))
		}
	}
}

// actionName labels an action in the metrics.
func actionName(a core.Action) string {
	switch a := a.(type) {
	case core.DoDB:
		return a.Op.String()
	case core.DoVIP:
		return a.Op.String()
	case core.Send:
		return "send-" + string(a.Msg.Type)
	case core.RunScript:
		return string(a.Script)
	case core.Notify:
		return "notify-" + a.Level().String()
	}
	return strings.ToLower(strings.TrimPrefix(fmt.Sprintf("%T", a), "core."))
}

// execute carries out one batch of actions in order. Only a failed Persist
// stops a batch: nothing after it may run (a vote must never be sent before
// it is durable).
func (s *shell) execute(ctx context.Context, acts []core.Action) {
	for i, a := range acts {
		if err := s.do(ctx, a); err != nil {
			s.log.Error("aborting the rest of the core's actions", "err", err, "dropped", len(acts)-i-1)
			return
		}
	}
}

// async runs fn on its own goroutine with a deadline and posts its event.
func (s *shell) async(ctx context.Context, timeout time.Duration, fn func(ctx context.Context) core.Event) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		s.post(ctx, fn(cctx))
	}()
}

// dbWorker runs database and VIP operations one at a time: a stop and a
// start of the same server must never overlap.
func (s *shell) dbWorker(ctx context.Context) { s.worker(ctx, s.dbq) }

// worker runs the functions of q one at a time.
func (s *shell) worker(ctx context.Context, q chan func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case fn := <-q:
			fn()
		}
	}
}

func (s *shell) queueDB(ctx context.Context, timeout time.Duration, fn func(ctx context.Context) core.Event) {
	s.queue(ctx, s.dbq, timeout, fn)
}

// queue has fn run by q's worker with a deadline and posts its event.
func (s *shell) queue(ctx context.Context, q chan func(), timeout time.Duration, fn func(ctx context.Context) core.Event) {
	select {
	case q <- func() {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		s.post(ctx, fn(cctx))
	}:
	case <-ctx.Done():
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out: " + err.Error()
	}
	return err.Error()
}
