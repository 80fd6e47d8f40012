package pg

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RejoinPlan is what Rejoin needs to rebuild this node as a standby of a
// new primary (EFM 5.2's auto.rewind and auto.basebackup).
type RejoinPlan struct {
	// Primary is the new primary, reached with this agent's own
	// connection settings: CHECKPOINT, its timeline and history, its size.
	Primary *DB
	// Host and Port are how this node's wal receiver reaches the new
	// primary (the host of primary_conninfo; Port 0 keeps the one in
	// Settings).
	Host string
	Port int
	// Settings are a working standby's replication settings, copied as the
	// switchover does (see ReplicationSettings and FollowAsStandby): the
	// old primary gets their primary_conninfo with the host replaced.
	Settings ReplicationSettings
	// SourceConninfo is the libpq string pg_rewind and pg_basebackup
	// connect to the new primary with. Empty: Settings' primary_conninfo
	// pointed at Host, with dbname = db.database for pg_rewind (which needs
	// a role that may read the source's files: superuser, or the grants in
	// pg_rewind's documentation).
	SourceConninfo string
	// SlotName, when set, is the physical slot this node streams through
	// (see SlotName): created on the new primary unless it exists, so it
	// reserves WAL before this node starts, and written as
	// primary_slot_name.
	SlotName string
	// Rewind allows pg_rewind (auto.rewind); BaseBackup allows a fresh
	// pg_basebackup, alone or when the rewind cannot work
	// (auto.basebackup).
	Rewind     bool
	BaseBackup bool
}

// RejoinMethod is how a rejoin ended.
type RejoinMethod string

const (
	// RejoinNothing: the node already is a standby on the new primary's
	// history; it was not touched.
	RejoinNothing RejoinMethod = "nothing to rejoin"
	// RejoinFollow: no WAL to discard; the stopped node was only given
	// standby.signal and primary_conninfo and started.
	RejoinFollow RejoinMethod = "followed without rewind"
	// RejoinRewound: pg_rewind discarded the node's divergent WAL.
	RejoinRewound RejoinMethod = "rewound"
	// RejoinBaseBackup: the node was rebuilt from a fresh base backup;
	// its old data directory was moved aside (RejoinReport.MovedAside).
	RejoinBaseBackup RejoinMethod = "base backup"
	// RejoinRefused: the node was left as it was (stopped and fenced if
	// it had been stopped); RejoinReport.Reason says why.
	RejoinRefused RejoinMethod = "refused"
)

// RejoinStep is one step of a rejoin, for the agent's log and
// notifications.
type RejoinStep struct {
	Name   string
	Took   time.Duration
	Detail string // what it found or did
	Err    string // empty when the step succeeded
}

// RejoinReport says what Rejoin did, step by step, and why.
type RejoinReport struct {
	Method RejoinMethod
	// Reason is the one-line why: the timeline verdict, the rewind's
	// failure that led to the base backup, the refusal.
	Reason string
	Steps  []RejoinStep
	// MovedAside is where a base backup moved the old data directory
	// (never deleted: nothing is lost).
	MovedAside string
	Took       time.Duration
}

// The two read-only steps; every other step changes the node.
const (
	stepInspectPrimary = "inspect new primary"
	stepInspectLocal   = "inspect this node"
)

// Untouched says the rejoin ended before it changed anything on this node
// (it only read: the new primary unreachable, a refusal by the guard), so
// asking again costs nothing.
func (r RejoinReport) Untouched() bool {
	for _, s := range r.Steps {
		if s.Name != stepInspectPrimary && s.Name != stepInspectLocal {
			return false
		}
	}
	return true
}

func (r RejoinReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s in %s: %s", r.Method, r.Took.Round(time.Millisecond), r.Reason)
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "\n  %s (%s)", s.Name, s.Took.Round(time.Millisecond))
		if s.Detail != "" {
			fmt.Fprintf(&b, ": %s", s.Detail)
		}
		if s.Err != "" {
			fmt.Fprintf(&b, ": FAILED: %s", s.Err)
		}
	}
	if r.MovedAside != "" {
		fmt.Fprintf(&b, "\n  old data directory kept at %s", r.MovedAside)
	}
	return b.String()
}

// rejoin carries one Rejoin's state and report.
type rejoin struct {
	d      *DB
	plan   RejoinPlan
	report RejoinReport
	// local and primary are the timeline positions judged last.
	local   timelinePoint
	primary primaryPoint
}

// step runs fn as a named step and records it.
func (r *rejoin) step(ctx context.Context, name string, fn func(ctx context.Context) (string, error)) error {
	start := time.Now()
	detail, err := fn(ctx)
	s := RejoinStep{Name: name, Took: time.Since(start), Detail: detail}
	if err != nil {
		s.Err = err.Error()
		r.d.log.Warn("rejoin step failed", "step", name, "took", s.Took, "err", err)
	} else {
		r.d.log.Info("rejoin step", "step", name, "took", s.Took, "detail", detail)
	}
	r.report.Steps = append(r.report.Steps, s)
	return err
}

// Rejoin rebuilds this node as a standby of plan.Primary, the way EFM 5.2
// does with auto.rewind and auto.basebackup, and returns once it streams
// from the new primary. In order:
//
//  1. The guard: the node's timeline and WAL end (SQL when it runs,
//     pg_controldata when it does not) against the new primary's timeline
//     and history. A node already streaming from the primary is not
//     touched (RejoinNothing); a node whose timeline is not older than the
//     primary's, or that was a primary on the primary's timeline, is
//     refused: it may hold the newest commits. Nothing is stopped before
//     this verdict.
//  2. Stop (fast). A directory that was not shut down cleanly (a fenced
//     node stopped immediately) is started once in recovery and stopped
//     again, so pg_control shows where its WAL ends (pg_rewind needs a clean
//     shutdown, and its own single-user recovery refuses standby.signal).
//  3. A node whose WAL is a prefix of the primary's history just follows.
//     Otherwise, with plan.Rewind: CHECKPOINT on the new primary (its
//     control file may still show the old timeline), pg_rewind --dry-run,
//     pg_rewind (with --restore-target-wal when restore_command is set),
//     this node's own configuration files put back. When the rewind is not
//     allowed or fails and plan.BaseBackup allows it: the data directory
//     is moved aside and a fresh pg_basebackup taken, the node's own
//     configuration files put back.
//  4. primary_conninfo from plan.Settings pointed at the primary,
//     standby.signal, start, and wait until it streams from plan.Host.
//
// A refused or failed rejoin returns an error and leaves a node that was
// stopped stopped, with standby.signal: fenced, as it came. The report
// always says what happened; the caller logs and notifies it. The caller's
// ctx bounds pg_rewind and pg_basebackup, which can take long on a big
// database.
func (d *DB) Rejoin(ctx context.Context, plan RejoinPlan) (RejoinReport, error) {
	start := time.Now()
	r := &rejoin{d: d, plan: plan}
	err := r.run(ctx)
	r.report.Took = time.Since(start)
	if err != nil {
		if r.report.Method == "" {
			r.report.Method = RejoinRefused
		}
		if r.report.Reason == "" {
			r.report.Reason = err.Error()
		}
		d.log.Warn("rejoin failed", "method", r.report.Method, "took", r.report.Took, "err", err)
		return r.report, fmt.Errorf("rejoin %s (%s) to %s: %w", d.cfg.Node, d.cfg.DataDir, plan.Host, err)
	}
	d.log.Info("rejoined as a standby", "method", r.report.Method, "primary", plan.Host, "took", r.report.Took, "reason", r.report.Reason)
	return r.report, nil
}

func (r *rejoin) run(ctx context.Context) error {
	d, plan := r.d, r.plan
	if plan.Primary == nil || plan.Host == "" {
		return errors.New("no new primary given")
	}
	if !plan.Rewind && !plan.BaseBackup {
		// Checked before anything is read: with both off EFM only
		// notifies.
		return errors.New("auto.rewind and auto.basebackup are both false: the node is left fenced for an operator")
	}
	settings, err := followSettings(plan.Settings, plan.Host, plan.Port, d.cfg.ApplicationName, d.restoreCommandFor(plan.Host))
	if err != nil {
		return fmt.Errorf("no primary_conninfo to follow %s with: %w", plan.Host, err)
	}
	if plan.SlotName != "" {
		if err := checkSlotName(plan.SlotName); err != nil {
			return err
		}
		settings["primary_slot_name"] = plan.SlotName
	}

	var primary primaryPoint
	if err := r.step(ctx, stepInspectPrimary, func(ctx context.Context) (string, error) {
		var err error
		primary, err = plan.Primary.primaryTimeline(ctx)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s is a primary on timeline %d at %s", plan.Host, primary.TLI, primary.Current), nil
	}); err != nil {
		return fmt.Errorf("the new primary %s: %w", plan.Host, err)
	}

	verdict, running, err := r.inspectLocal(ctx, primary)
	if err != nil || verdict == verdictRefuse || r.report.Method == RejoinNothing {
		return err
	}
	if running {
		if err := r.step(ctx, "stop", func(ctx context.Context) (string, error) {
			return "fast shutdown", d.Stop(ctx, StopFast)
		}); err != nil {
			return err
		}
	}
	// From here on the node is stopped: whatever fails, it stays fenced.
	cd, err := r.cleanShutdown(ctx)
	if err != nil {
		return err
	}
	// What the first look saw still counts: a primary whose crash
	// recovery ran in standby mode stays a node that wrote its own WAL,
	// and a timeline it wrote a history file for stays its newest.
	local := controlPoint(cd, 0)
	if r.local.Exact && r.local.TLI == local.TLI {
		// A running standby's position, read before its fast stop
		// (which adds no WAL), is exact where pg_control's is not.
		local.End, local.Exact = max(local.End, r.local.End), true
	}
	local.TLI = max(local.TLI, r.local.TLI)
	local.WasPrimary = local.WasPrimary || r.local.WasPrimary
	r.local, r.primary = local, primary
	verdict, why := judgeRejoin(local, primary, plan.Host)
	r.report.Reason = why
	switch verdict {
	case verdictRefuse:
		r.report.Method = RejoinRefused
		return errors.New(why)
	case verdictOnHistory:
		r.report.Method = RejoinFollow
	default:
		if err := r.rebuild(ctx, why); err != nil {
			return err
		}
	}
	return r.step(ctx, "follow", func(ctx context.Context) (string, error) {
		if plan.SlotName != "" {
			if err := plan.Primary.EnsurePhysicalSlot(ctx, plan.SlotName); err != nil {
				return "", err
			}
		}
		if err := d.startStreamingFrom(ctx, settings, plan.Host, plan.Port); err != nil {
			// Leave it as it came: stopped and fenced, not a standby
			// that cannot stream passing for one.
			_ = d.Stop(context.WithoutCancel(ctx), StopFast)
			return "", err
		}
		if plan.SlotName != "" {
			return "standby.signal, primary_conninfo and primary_slot_name " + plan.SlotName + " written; streaming from " + plan.Host, nil
		}
		return "standby.signal and primary_conninfo written; streaming from " + plan.Host, nil
	})
}

// inspectLocal reads this node's timeline position and judges it. A
// running standby already streaming from the primary, or on its history,
// is left alone (RejoinNothing).
func (r *rejoin) inspectLocal(ctx context.Context, primary primaryPoint) (rejoinVerdict, bool, error) {
	d, plan := r.d, r.plan
	var verdict rejoinVerdict
	var running bool
	err := r.step(ctx, stepInspectLocal, func(ctx context.Context) (string, error) {
		var err error
		if running, err = d.Running(ctx); err != nil {
			return "", err
		}
		var local timelinePoint
		if running {
			st, err := d.Probe(ctx)
			if err != nil {
				return "", err
			}
			if st.InRecovery && st.WALReceiverStatus == "streaming" && st.SenderHost == plan.Host && (plan.Port <= 0 || st.SenderPort == plan.Port) {
				r.report.Method, r.report.Reason = RejoinNothing, "already a standby streaming from "+plan.Host
				return r.report.Reason, nil
			}
			local = timelinePoint{TLI: st.Timeline, End: st.Position(), WasPrimary: !st.InRecovery, Exact: true}
			if st.InRecovery {
				var tli uint32
				if err := d.queryRow(ctx, "read checkpoint timeline", "SELECT timeline_id FROM pg_control_checkpoint()", nil, &tli); err != nil {
					return "", err
				}
				local.TLI = max(local.TLI, tli)
			}
		} else {
			cd, err := d.ControlData(ctx)
			if err != nil {
				return "", err
			}
			newest := uint32(0)
			if !cd.WasStandby() {
				if newest, err = d.newestLocalHistory(ctx); err != nil {
					return "", err
				}
			}
			local = controlPoint(cd, newest)
		}
		r.local = local
		var why string
		verdict, why = judgeRejoin(local, primary, plan.Host)
		r.report.Reason = why
		if verdict == verdictRefuse {
			r.report.Method = RejoinRefused
			return "", errors.New(why)
		}
		// A running server in recovery on the primary's history that does
		// not stream from it is still stopped and started with the copied
		// settings below: its own primary_conninfo may be empty (an old
		// primary a service manager started behind standby.signal), and
		// re-pointing that would never stream (chaos seed 2000).
		return fmt.Sprintf("running=%t timeline %d, WAL to %s (was primary: %t): %s", running, local.TLI, local.End, local.WasPrimary, verdict), nil
	})
	return verdict, running, err
}

// controlPoint is a stopped node's timeline position from pg_control;
// newestHistory is the newest timeline history file in its pg_wal. Only a
// primary's clean shutdown makes pg_control's end exact (its shutdown
// checkpoint is its last record). A server shut down in recovery records
// how far it replayed, and its pg_wal can hold more: WAL it received and
// had not replayed, or, after the crash-recovery start (pg_ctl -w returns
// at consistency, before recovery reached the end of pg_wal), the rest of
// an old primary's own WAL. Taking that for the end once judged an old
// primary "nothing to rewind" that then replayed past the fork point
// (TestRejoinFallsBackToBaseBackup); pg_rewind, which reads the WAL,
// decides such a node.
func controlPoint(cd ControlData, newestHistory uint32) timelinePoint {
	return timelinePoint{TLI: max(cd.Timeline(), newestHistory), End: cd.End(), WasPrimary: !cd.WasStandby(), Exact: cd.State == "shut down"}
}

// cleanShutdown makes sure pg_control describes the end of the node's WAL:
// a directory left by a crash or an immediate stop is started once in
// recovery (standby.signal ensured first, so it cannot come up writable)
// and stopped fast. It returns the control data after that.
func (r *rejoin) cleanShutdown(ctx context.Context) (ControlData, error) {
	d := r.d
	cd, err := d.ControlData(ctx)
	if err != nil || cd.CleanlyShutDown() {
		return cd, err
	}
	err = r.step(ctx, "crash recovery", func(ctx context.Context) (string, error) {
		state := cd.State
		if err := d.WriteStandbySignal(ctx); err != nil {
			return "", err
		}
		if err := d.startForRecoveryOnly(ctx); err != nil {
			return "", err
		}
		waitErr := d.waitLocalWALReplayed(ctx)
		if err := d.Stop(ctx, StopFast); err != nil {
			return "", errors.Join(waitErr, err)
		}
		if waitErr != nil {
			return "", waitErr
		}
		if cd, err = d.ControlData(ctx); err != nil {
			return "", err
		}
		return fmt.Sprintf("was %q; started in recovery and stopped: now %q, WAL to %s on timeline %d", state, cd.State, cd.End(), cd.Timeline()), nil
	})
	return cd, err
}

// waitLocalWALReplayed waits until a server started in recovery has
// replayed every record in its own pg_wal: pg_control then says "in archive
// recovery" with a minimum recovery point, which the startup process sets
// to the end of that WAL when it leaves crash recovery. pg_ctl -w returns
// long before that with hot_standby=off (the postmaster reports "standby"
// when recovery starts), and a stop in the middle leaves a crashed
// primary's directory "shut down in recovery" with no minimum recovery
// point and its old checkpoint: pg_rewind then takes that checkpoint for
// the end of its WAL and may find "no rewind required" for a node with
// data past the fork point, and the next start needs that checkpoint's
// segment in pg_wal (chaos seed 9016: it had been set aside, and the node
// could never start again). A standby's directory already shows a minimum
// recovery point.
func (d *DB) waitLocalWALReplayed(ctx context.Context) error {
	var last ControlData
	err := pollUntil(ctx, d.cfg.CtlTimeout, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		cd, err := d.ControlData(ctx)
		if err != nil {
			return false, err
		}
		last = cd
		return cd.State == "in archive recovery" && cd.MinRecoveryEnd != InvalidLSN, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %s to replay its own WAL (pg_control: %q, minimum recovery point %s): %w", d.cfg.Node, last.State, last.MinRecoveryEnd, err)
	}
	return nil
}

// startForRecoveryOnly starts the server in recovery with hot_standby=off,
// so that it accepts no connection at all while it replays, replication
// ones included: this directory's WAL past the new primary's fork point
// must not reach a standby that still points here (one did, by cascading,
// in the ten-failures test, and could then never follow the new primary).
// pg_ctl -w returns once recovery is consistent, as the normal start's
// first connection did. With db.service.name the unit starts it as
// configured, and hot standby may be on for that moment.
func (d *DB) startForRecoveryOnly(ctx context.Context) error {
	if d.cfg.ServiceName != "" {
		return d.Start(ctx)
	}
	start := time.Now()
	d.clearPlaceholdersBeforeStart(ctx)
	if _, err := d.runOwner(ctx, nil, d.pgBin("pg_ctl"), "start", "-D", d.cfg.ConfigDir, "-w", "-t", d.ctlSeconds(ctx),
		"-l", d.cfg.LogFile, "-o", "-c hot_standby=off"); err != nil {
		return fmt.Errorf("start database %s (%s) for crash recovery only: %w", d.cfg.Node, d.cfg.DataDir, err)
	}
	d.log.Info("database started for crash recovery, accepting no connections", "took", time.Since(start))
	return nil
}

// divergedSuffix marks a WAL segment set aside after a rewind: PostgreSQL
// ignores the name, and nothing is deleted.
const divergedSuffix = ".efm-diverged"

// setAsideDivergentWAL renames, after a rewind, the segments of this
// node's own timeline that begin past the new primary's fork point, and
// trims the one the fork point is in. They hold WAL only this node had;
// pg_rewind leaves them in pg_wal, and once the node runs as a standby it
// would serve them by cascading to a standby that still points here, which
// could then never follow the new primary (the ten-failures test's second
// failure). The segment with the fork point keeps what comes before it,
// where this node's own last checkpoint may be (chaos seed 9016: with that
// whole segment set aside the server could not start, and every later
// rejoin failed for want of it); the rest is zeroes, where PostgreSQL
// finds the end of the local WAL. Its original is kept beside it.
func (r *rejoin) setAsideDivergentWAL(ctx context.Context) (string, error) {
	d := r.d
	fork, ok := forkPoint(r.primary.History, r.local.TLI)
	if !ok {
		return "this node's timeline is not in the primary's history: nothing set aside", nil
	}
	var size int64
	if err := r.plan.Primary.queryRow(ctx, "read wal_segment_size", "SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'", nil, &size); err != nil {
		return "", err
	}
	names, err := d.walNames(ctx)
	if err != nil {
		return "", err
	}
	var moved, trimmed []string
	for _, name := range names {
		tli, start, err := segmentStart(name, size)
		if err != nil || tli != r.local.TLI || start+LSN(size) <= fork {
			continue // not a segment, another timeline, or wholly before the fork
		}
		from := d.dataPath("pg_wal/" + name)
		if start < fork {
			if err := d.trimSegment(ctx, from, int64(fork-start), size); err != nil {
				return "", err
			}
			trimmed = append(trimmed, name)
			continue
		}
		if _, err := d.runOwner(ctx, nil, "mv", "-n", from, from+divergedSuffix); err != nil {
			return "", err
		}
		moved = append(moved, name)
	}
	var done []string
	if len(trimmed) > 0 {
		done = append(done, fmt.Sprintf("%s zeroed from the fork point %s on (original kept as *%s)", strings.Join(trimmed, ", "), fork, divergedSuffix))
	}
	if len(moved) > 0 {
		done = append(done, fmt.Sprintf("%s renamed *%s", strings.Join(moved, ", "), divergedSuffix))
	}
	if len(done) == 0 {
		return "no segment of timeline " + strconv.FormatUint(uint64(r.local.TLI), 10) + " past the fork point " + fork.String(), nil
	}
	return strings.Join(done, "; ") + " (WAL past the fork point, only this node had it)", nil
}

// trimSegment makes the WAL segment at path end after its first keep
// bytes: zeroes follow, to the segment size. The original is copied to
// path+divergedSuffix first (unless a copy is there already), and the
// trimmed file replaces it by a rename, both fsynced: at every moment the
// segment is there, whole or trimmed.
func (d *DB) trimSegment(ctx context.Context, path string, keep, size int64) error {
	const script = `set -e
[ -e "$1` + divergedSuffix + `" ] || cp -p "$1" "$1` + divergedSuffix + `"
cp -p "$1" "$1.openefm-trim"
truncate -s "$2" "$1.openefm-trim"
truncate -s "$3" "$1.openefm-trim"
sync "$1` + divergedSuffix + `" "$1.openefm-trim"
mv "$1.openefm-trim" "$1"
sync "$(dirname "$1")"`
	if _, err := d.runOwner(ctx, nil, "sh", "-c", script, "sh", path, strconv.FormatInt(keep, 10), strconv.FormatInt(size, 10)); err != nil {
		return fmt.Errorf("trimming WAL segment %s after %d bytes: %w", path, keep, err)
	}
	return nil
}

// rebuild discards the node's divergent WAL: pg_rewind when allowed, else
// or when it fails a base backup when allowed.
func (r *rejoin) rebuild(ctx context.Context, why string) error {
	d, plan := r.d, r.plan
	var rewindErr error
	if plan.Rewind {
		rewindErr = r.rewind(ctx)
		if rewindErr == nil {
			rewindErr = r.step(ctx, "set aside divergent WAL", r.setAsideDivergentWAL)
		}
		if rewindErr == nil {
			r.report.Method, r.report.Reason = RejoinRewound, why
			return nil
		}
		if !plan.BaseBackup {
			r.report.Method = RejoinRefused
			r.report.Reason = "pg_rewind failed and auto.basebackup is false: " + rewindErr.Error()
			return errors.Join(rewindErr, d.WriteStandbySignal(context.WithoutCancel(ctx)))
		}
	}
	if err := r.baseBackup(ctx); err != nil {
		r.report.Method = RejoinRefused
		r.report.Reason = "base backup failed: " + err.Error()
		if rewindErr != nil {
			r.report.Reason = fmt.Sprintf("pg_rewind failed (%v), then the base backup failed: %v", rewindErr, err)
		}
		return errors.Join(rewindErr, err)
	}
	r.report.Method = RejoinBaseBackup
	r.report.Reason = why + "; rebuilt from a base backup"
	if rewindErr != nil {
		r.report.Reason = why + "; pg_rewind failed (" + rewindErr.Error() + "), rebuilt from a base backup"
	}
	return nil
}

// sourceConninfo is the connection string pg_rewind or pg_basebackup
// reaches the new primary with.
func (r *rejoin) sourceConninfo(forRewind bool) (string, error) {
	if r.plan.SourceConninfo != "" {
		return r.plan.SourceConninfo, nil
	}
	ci, err := ParseConninfo(r.plan.Settings.PrimaryConninfo)
	if err != nil {
		return "", fmt.Errorf("primary_conninfo to reach %s with: %w", r.plan.Host, err)
	}
	ci = ci.WithHost(r.plan.Host, r.plan.Port)
	if forRewind {
		if _, ok := ci.Get("dbname"); !ok {
			ci.Set("dbname", r.d.cfg.Database)
		}
	}
	return ci.String(), nil
}
