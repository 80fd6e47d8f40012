package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/pg"
)

// sendTimeout bounds one message delivery; the core tolerates loss, so a
// slow peer costs a message, never a stalled loop.
const sendTimeout = 2 * time.Second

// do carries out one action. Only a Persist failure is returned: it must
// stop the rest of the batch.
func (s *shell) do(ctx context.Context, a core.Action) error {
	switch a := a.(type) {
	case core.Persist:
		if err := s.state.save(a.State); err != nil {
			return fmt.Errorf("persisting epoch %d vote %q: %w", a.State.Epoch, a.State.VotedFor, err)
		}
	case core.Send:
		s.send(ctx, a)
	case core.ProbeLocalDB:
		s.async(ctx, a.Timeout, func(ctx context.Context) core.Event { return s.probeLocal(ctx, a) })
	case core.CheckRemoteDB:
		s.async(ctx, a.Timeout, func(ctx context.Context) core.Event {
			st, err := s.remote.Probe(ctx, string(a.Node))
			return core.RemoteDBResult{Seq: a.Seq, Node: a.Node, Reachable: err == nil, InRecovery: st.InRecovery, Err: errText(err)}
		})
	case core.CheckVIP:
		s.async(ctx, a.Timeout, func(ctx context.Context) core.Event { return s.checkVIP(ctx, a.Seq) })
	case core.CheckPingServer:
		s.async(ctx, a.Timeout, func(ctx context.Context) core.Event { return s.checkPingServer(ctx, a.Seq) })
	case core.DoDB:
		s.queueDB(ctx, a.Timeout, func(ctx context.Context) core.Event { return s.dbOp(ctx, a) })
	case core.DoVIP:
		s.queueDB(ctx, a.Timeout, func(ctx context.Context) core.Event { return s.vipOp(ctx, a) })
	case core.FollowPrimary:
		s.queueDB(ctx, a.Timeout, func(ctx context.Context) core.Event {
			err := s.follow(ctx, a)
			if err == nil {
				s.log.Info("following the new primary", "primary", a.Primary)
			}
			var div *divergedError
			return core.DBOpResult{Seq: a.Seq, OK: err == nil, Err: errText(err), Diverged: errors.As(err, &div)}
		})
	case core.CheckSyncStandbys:
		s.async(ctx, a.Timeout, func(ctx context.Context) core.Event { return s.checkSync(ctx, a.Seq) })
	case core.SetNumSync:
		s.queueDB(ctx, a.Timeout, func(ctx context.Context) core.Event {
			err := s.setNumSync(ctx, a)
			return core.DBOpResult{Seq: a.Seq, OK: err == nil, Err: errText(err)}
		})
	case core.RenameSyncStandby:
		s.queueDB(ctx, a.Timeout, func(ctx context.Context) core.Event {
			changed, err := s.renameSync(ctx, a)
			r := core.DBOpResult{Seq: a.Seq, OK: err == nil, Err: errText(err)}
			if err == nil && !changed {
				r.Err = "unchanged"
			}
			return r
		})
	case core.ReadSlotPositions:
		s.async(ctx, a.Timeout, func(ctx context.Context) core.Event { return s.slotPositions(ctx, a) })
	case core.SyncSlots:
		// Not in the database queue: SQL only, and a promotion or a
		// follow must not wait behind it.
		s.async(ctx, a.Timeout, func(ctx context.Context) core.Event { return s.syncSlots(ctx, a) })
	case core.DropSlots:
		s.queueDB(ctx, a.Timeout, func(ctx context.Context) core.Event {
			err := s.dropSlots(ctx, a)
			return core.DBOpResult{Seq: a.Seq, OK: err == nil, Err: errText(err)}
		})
	case core.Pgpool:
		if s.pgpool == nil {
			// The core asks only with pgpool.enable, which builds s.pgpool.
			s.post(ctx, core.PgpoolResult{Seq: a.Seq, Err: "pgpool.enable is not set on this agent"})
			return nil
		}
		s.queue(ctx, s.pgq, a.Timeout, func(ctx context.Context) core.Event {
			start := time.Now()
			err := s.pgpool.do(ctx, a)
			lvl := slog.LevelInfo
			if err != nil {
				lvl = slog.LevelError
			}
			s.log.Log(ctx, lvl, "Pgpool operation", "op", a.Op, "target", a.Node, "took", time.Since(start).Round(time.Millisecond), "err", err)
			return core.PgpoolResult{Seq: a.Seq, OK: err == nil, Err: errText(err)}
		})
	case core.RejoinDB:
		s.queueDB(ctx, rejoinBound, func(ctx context.Context) core.Event { return s.rejoin(ctx, a) })
	case core.RunScript:
		s.async(ctx, a.Timeout+time.Second, func(ctx context.Context) core.Event {
			code, out := s.scripts.Run(ctx, a.Script, a.Placeholders, a.Timeout)
			return core.ScriptResult{Seq: a.Seq, Script: a.Script, ExitCode: code, Output: out}
		})
	case core.Notify:
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			s.notify.Notify(nctx, a)
		}()
	case core.SetRole:
		s.log.Info("agent role", "role", a.Role)
		s.net.SetLocalState(string(a.Role))
	case core.Watchdog:
		// Params.Watchdog is never set by this shell yet; see docs/design.md.
		s.log.Warn("watchdog requested but not supported by this agent", "timeout", a.Timeout)
	case core.Log:
		s.log.LogAttrs(ctx, a.Level, a.Msg, a.Attrs...)
	case core.Exit:
		s.log.Info("agent exiting", "reason", a.Reason)
		s.requestStop()
	case core.AdminReply:
		s.mu.Lock()
		ch := s.replies[a.Seq]
		delete(s.replies, a.Seq)
		s.mu.Unlock()
		if ch != nil {
			ch <- a
		}
	default:
		s.log.Error("unknown core action", "action", fmt.Sprintf("%T", a))
	}
	return nil
}

// send delivers one message to its one recipient: the core chose the
// recipients of a broadcast from its own member list.
func (s *shell) send(ctx context.Context, a core.Send) {
	b := core.Encode(a.Msg)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		sctx, cancel := context.WithTimeout(ctx, sendTimeout)
		defer cancel()
		if err := s.net.Send(sctx, string(a.To), b); err != nil {
			s.log.Debug("message not delivered", "to", a.To, "type", a.Msg.Type, "err", err)
		}
	}()
}

// follow re-points the local database at a new primary. A standby keeps
// its own replication settings; the old primary of a switchover has none
// that work (a primary's primary_conninfo is usually empty), so it copies
// them from the first source that answers, fetched here over the database
// connection rather than carried in agent messages, which may not be
// encrypted. Without any, the old primary stays stopped and fenced and the
// error names every source tried: never a standby that cannot stream.
func (s *shell) follow(ctx context.Context, a core.FollowPrimary) error {
	// A database with WAL past the primary's fork point cannot stream from
	// it whatever its settings: say so at once rather than after a restart
	// and the whole streaming timeout. Checked again after a failed follow:
	// the startup process may have replayed more of its pg_wal by then.
	if err := s.checkDiverged(ctx, a.Primary, nil); err != nil {
		return err
	}
	if err := s.followOnly(ctx, a); err != nil {
		if derr := s.checkDiverged(ctx, a.Primary, err); derr != nil {
			return derr
		}
		return err
	}
	return nil
}

// divergedError: this database holds WAL the primary lacks
// (core.DBOpResult.Diverged).
type divergedError struct {
	primary core.NodeID
	why     string
	after   error // the failed follow, if any
}

func (e *divergedError) Error() string {
	msg := fmt.Sprintf("cannot stream from %s: %s", e.primary, e.why)
	if e.after != nil {
		msg += " (the follow failed: " + e.after.Error() + ")"
	}
	return msg
}

// checkDiverged returns a *divergedError when this database certainly
// diverged from primary's history; a check that cannot tell returns nil
// (logged): the follow goes on, and its own failure is reported.
func (s *shell) checkDiverged(ctx context.Context, primary core.NodeID, after error) error {
	d, why, err := s.requireDB().DivergedFrom(ctx, string(primary))
	if err != nil {
		s.log.Info("could not tell whether this database diverged from the primary's history", "primary", primary, "err", err)
		return nil
	}
	if !d {
		return nil
	}
	return &divergedError{primary: primary, why: why, after: after}
}

// followOnly re-points the database (follow's work, without the checks).
// A standby with no primary_conninfo of its own (the cluster's first
// primary, started in recovery behind its fence and never a standby since)
// copies its settings from the standbys, as an old primary does.
func (s *shell) followOnly(ctx context.Context, a core.FollowPrimary) error {
	db := s.requireDB()
	if len(a.Sources) == 0 {
		var err error
		if a.Slot {
			err = s.followThroughSlot(ctx, a)
		} else {
			err = db.Follow(ctx, string(a.Primary))
		}
		if !errors.Is(err, pg.ErrNoPrimaryConninfo) {
			return err
		}
		s.mu.Lock()
		view := s.view
		s.mu.Unlock()
		a.Sources = settingsSources(view, s.self, a.Primary)
		s.log.Warn("this standby has no primary_conninfo of its own; copying the replication settings of another node", "primary", a.Primary, "sources", a.Sources)
	}
	rs, src, err := s.copySettings(ctx, a.Sources)
	if err != nil {
		return fmt.Errorf("no replication settings to copy for this old primary (reading primary_conninfo needs db.user to be a superuser or have pg_read_all_settings): %w", err)
	}
	s.log.Info("old primary copies replication settings", "source", src, "primary", a.Primary)
	if a.Slot {
		rs.Slot = s.ensureOwnSlot(ctx, a.Primary)
	}
	if err := db.FollowWith(ctx, string(a.Primary), rs); err != nil {
		return fmt.Errorf("following %s with the replication settings of %s: %w", a.Primary, src, err)
	}
	return nil
}

func (s *shell) probeLocal(ctx context.Context, a core.ProbeLocalDB) core.Event {
	seq := a.Seq
	if s.db == nil {
		return core.LocalDBProbe{Seq: seq, Err: "no local database (witness)"}
	}
	st, err := s.db.Probe(ctx)
	s.mu.Lock()
	if err != nil {
		s.lastDB, s.lastErr = nil, err.Error()
	} else {
		s.lastDB, s.lastErr = &st, ""
	}
	s.mu.Unlock()
	if err != nil {
		ev := core.LocalDBProbe{Seq: seq, Err: err.Error()}
		if pg.Refused(err) {
			// Nobody listens: is there a postmaster at all? Only
			// certainty that there is none lets the core skip the
			// rest of local.timeout.
			var why string
			ev.Gone, why = s.db.PostmasterGone(ctx)
			ev.Err += "; " + why
			if ev.Gone && a.ReadStopped {
				// What the server's last run left behind, for the
				// votes (core/stopped.go); unread, nothing is known.
				if sd, err := s.db.ReadStopped(ctx); err != nil {
					ev.Err += "; " + err.Error()
				} else {
					ev.Stopped = sd
				}
			}
		}
		s.observeVIP(&ev)
		return ev
	}
	ev := core.LocalDBProbe{Seq: seq, Reachable: true, InRecovery: st.InRecovery,
		ReceivedLSN: st.ReceivedLSN, ReplayLSN: st.ReplayLSN, CurrentLSN: st.CurrentLSN, ReplayPaused: st.ReplayPaused,
		Timeline: st.Timeline, Upstream: core.NodeID(st.Upstream), WALReceiver: st.WALReceiver}
	s.observeVIP(&ev)
	return ev
}

// checkVIP probes the VIP for the candidate. A probe that could not tell
// (it failed, or was killed at its deadline) is in doubt and says so: it
// must never read as "the VIP does not answer".
func (s *shell) checkVIP(ctx context.Context, seq uint64) core.VIPResult {
	if s.vip == nil {
		// The core asks only when virtual.ip is set.
		return core.VIPResult{Seq: seq, Err: "no virtual.ip configured on this agent"}
	}
	ok, err := s.vip.Reachable(ctx)
	if err != nil {
		s.log.Warn("VIP probe in doubt", "vip", s.vip.Address(), "err", err)
	}
	return core.VIPResult{Seq: seq, Reachable: ok, Err: errText(err)}
}

// checkPingServer probes ping.server.ip (the orphan check), in doubt as
// checkVIP is.
func (s *shell) checkPingServer(ctx context.Context, seq uint64) core.PingResult {
	if s.ping == nil {
		// Without ping.server.ip there is no orphan check: reachable.
		return core.PingResult{Seq: seq, Reachable: true}
	}
	ok, err := s.ping.Reachable(ctx)
	if err != nil {
		s.log.Warn("ping.server.ip probe in doubt", "err", err)
	}
	return core.PingResult{Seq: seq, Reachable: ok, Err: errText(err)}
}

// observeVIP tells the core whether the VIP is on this node's interface,
// for its VIP monitor (a VIP on a non-primary is released, a primary's
// missing VIP is restored).
func (s *shell) observeVIP(ev *core.LocalDBProbe) {
	if s.vip == nil {
		return
	}
	held, err := s.vip.Held()
	if err != nil {
		s.log.Warn("checking the VIP on this node", "err", err)
		return
	}
	ev.VIPChecked, ev.VIPHeld = true, held
}

func (s *shell) requireDB() localDB {
	if s.db == nil {
		return noDB{}
	}
	return s.db
}

func (s *shell) dbOp(ctx context.Context, a core.DoDB) core.Event {
	var err error
	start := time.Now()
	db := s.requireDB()
	if unsafeSkip(a.Op) {
		s.log.Error(unsafeBuild, "skipped", a.Op)
		return s.opResult(ctx, a.Seq, a.Op, start, nil)
	}
	switch a.Op {
	case core.OpStartDB:
		err = db.Start(ctx)
	case core.OpStopDB:
		err = db.Stop(ctx)
	case core.OpPromoteDB:
		err = db.Promote(ctx, a.Timeline)
		if err == nil {
			// The core adds the VIP once it has the result: the
			// CHECKPOINT (for a later pg_rewind against this node)
			// must not hold writes back.
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				db.CheckpointAfterPromotion(context.WithoutCancel(ctx))
			}()
		}
	case core.OpCheckpointDB:
		err = db.Checkpoint(ctx)
	case core.OpFenceDB:
		err = db.Fence(ctx)
	case core.OpUnfenceDB:
		err = db.Unfence(ctx)
	case core.OpPauseReplay:
		err = db.PauseReplay(ctx)
	case core.OpResumeReplay:
		err = db.ResumeReplay(ctx)
	case core.OpDetachReceiver:
		err = db.DetachReceiver(ctx)
	default:
		err = fmt.Errorf("unknown database operation %v", a.Op)
	}
	return s.opResult(ctx, a.Seq, a.Op, start, err)
}

// vipOp adds or releases the virtual IP (nothing to do without one).
func (s *shell) vipOp(ctx context.Context, a core.DoVIP) core.Event {
	var err error
	start := time.Now()
	switch {
	case s.vip == nil:
	case a.Op == core.OpAddVIP:
		err = s.vip.Acquire(ctx)
	case a.Op == core.OpReleaseVIP:
		err = s.vip.Release(ctx)
	default:
		err = fmt.Errorf("unknown VIP operation %v", a.Op)
	}
	return s.opResult(ctx, a.Seq, a.Op, start, err)
}

// opResult logs a database or VIP operation and answers it.
func (s *shell) opResult(ctx context.Context, seq uint64, op fmt.Stringer, start time.Time, err error) core.Event {
	lvl := slog.LevelInfo
	if err != nil {
		lvl = slog.LevelError
	}
	s.log.Log(ctx, lvl, "database operation", "op", op, "took", time.Since(start).Round(time.Millisecond), "err", err)
	return core.DBOpResult{Seq: seq, OK: err == nil, Err: errText(err)}
}

// noDB answers every operation on a witness with an error.
type noDB struct{}

var errNoDB = fmt.Errorf("this node has no database (is.witness=true)")

func (noDB) Probe(context.Context) (dbStatus, error)       { return dbStatus{}, errNoDB }
func (noDB) PostmasterGone(context.Context) (bool, string) { return false, errNoDB.Error() }
func (noDB) Stop(context.Context) error                    { return errNoDB }
func (noDB) Start(context.Context) error                   { return errNoDB }
func (noDB) Promote(context.Context, uint32) error         { return errNoDB }
func (noDB) CheckpointAfterPromotion(context.Context)      {}
func (noDB) Checkpoint(context.Context) error              { return errNoDB }
func (noDB) Fence(context.Context) error                   { return errNoDB }
func (noDB) Unfence(context.Context) error                 { return errNoDB }
func (noDB) PauseReplay(context.Context) error             { return errNoDB }
func (noDB) ResumeReplay(context.Context) error            { return errNoDB }
func (noDB) DetachReceiver(context.Context) error          { return errNoDB }
func (noDB) DivergedFrom(context.Context, string) (bool, string, error) {
	return false, "", errNoDB
}
func (noDB) Follow(context.Context, string) error { return errNoDB }
func (noDB) Close(context.Context) error          { return nil }

func (noDB) FollowWith(context.Context, string, replSettings) error { return errNoDB }

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
