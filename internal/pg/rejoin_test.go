package pg

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// divergedPair is the situation a rejoin is for: A was the primary, B its
// standby; B is promoted by hand (pg_promote, no CHECKPOINT after it, as
// a promotion outside this agent may leave it), A goes on writing a row
// B never gets, and A is then stopped immediately and fenced the way the
// agent fences an old primary.
func divergedPair(t *testing.T, mutateA func(a *instance)) (a, b *instance, src ReplicationSettings) {
	t.Helper()
	base := baseDir(t)
	a = startPrimary(t, base, "a")
	if mutateA != nil {
		mutateA(a)
	}
	b = startStandby(t, base, "b", a)
	a.mustSQL("CREATE TABLE t (v text)")
	waitReplayed(t, a, b)
	src = settingsOf(t, b)
	b.mustSQL("SELECT pg_promote(true)")
	a.mustSQL("INSERT INTO t VALUES ('diverged on a')")
	b.mustSQL("INSERT INTO t VALUES ('from b')")
	a.crashFenced(t)
	return a, b, src
}

func (in *instance) planFrom(primary *instance, src ReplicationSettings, rewind, basebackup bool) RejoinPlan {
	return RejoinPlan{Primary: primary.db, Host: "127.0.0.1", Port: primary.port, Settings: src, Rewind: rewind, BaseBackup: basebackup}
}

// assertStandbyOf checks that in streams from primary, holds exactly
// primary's rows, and kept its own port.
func assertStandbyOf(t *testing.T, in, primary *instance) {
	t.Helper()
	waitFor(t, 10*time.Second, primary.name+"'s rows on "+in.name, func() (bool, error) {
		rows, err := in.sql("SELECT string_agg(v, ',' ORDER BY v) FROM t")
		return rows == "from b", err
	})
	if r := in.mustSQL("SELECT pg_is_in_recovery()"); r != "true" {
		t.Errorf("%s in recovery = %s", in.name, r)
	}
	if port := in.mustSQL("SHOW port"); port != itoa(in.port) {
		t.Errorf("%s's port = %s after the rejoin, want its own %d", in.name, port, in.port)
	}
	if s := in.mustSQL("SELECT status FROM pg_stat_wal_receiver"); s != "streaming" {
		t.Errorf("%s's wal receiver: %q", in.name, s)
	}
}

// A fenced, immediately stopped old primary with a diverged row is rewound
// and streams from the new primary: the rejoin finished the crash recovery
// itself, checkpointed the new primary (promoted without one: without the
// CHECKPOINT pg_rewind sees one timeline and rewinds nothing), and kept its
// own configuration.
func TestRejoinRewindsFencedOldPrimary(t *testing.T) {
	requirePG(t)
	t.Parallel()
	a, b, src := divergedPair(t, nil)
	plan := a.planFrom(b, src, true, false)
	plan.SlotName = SlotName("a")
	rep, err := a.db.Rejoin(context.Background(), plan)
	t.Logf("MEASURED rejoin by rewind: %s", rep)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Method != RejoinRewound {
		t.Fatalf("method %q, want %q", rep.Method, RejoinRewound)
	}
	for _, want := range []string{"crash recovery", "checkpoint new primary", "pg_rewind", "follow"} {
		if !hasStep(rep, want) {
			t.Errorf("report has no %q step", want)
		}
	}
	assertStandbyOf(t, a, b)
	// It streams through its slot on the new primary.
	if s := b.mustSQL("SELECT active FROM pg_replication_slots WHERE slot_name = $1", plan.SlotName); s != "true" {
		t.Errorf("slot %s on b active = %q, want true", plan.SlotName, s)
	}
	// Its own WAL past the fork point is no longer in pg_wal, where it
	// would cascade to a standby still pointing at it: set aside, not
	// deleted. The segment with the fork point stays, zeroed past it.
	ents, err := os.ReadDir(filepath.Join(a.dir, "pg_wal"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	t.Logf("a's pg_wal after the rejoin: %v", names)
	set := 0
	for _, n := range names {
		if orig, ok := strings.CutSuffix(n, divergedSuffix); ok {
			set++
			if slices.Contains(names, orig) {
				checkTrimmed(t, filepath.Join(a.dir, "pg_wal", orig), filepath.Join(a.dir, "pg_wal", n), forkOf(t, b, 1))
			}
		}
	}
	if set == 0 || !hasStep(rep, "set aside divergent WAL") {
		t.Errorf("no divergent segment set aside (%d) or no such step in the report", set)
	}
}

// checkTrimmed: the segment at trimmed is the one at orig up to fork (an
// LSN in it), and zeroes from there on.
func checkTrimmed(t *testing.T, trimmed, orig string, fork LSN) {
	t.Helper()
	a, err := os.ReadFile(trimmed)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("%s has %d bytes, its original %d", trimmed, len(a), len(b))
	}
	off := int(uint64(fork) % uint64(len(a)))
	if !bytes.Equal(a[:off], b[:off]) {
		t.Errorf("%s differs from its original before the fork point %s", trimmed, fork)
	}
	for j := off; j < len(a); j++ {
		if a[j] != 0 {
			t.Fatalf("%s: byte %d, past the fork point %s, is %#x, want 0", trimmed, j, fork, a[j])
		}
	}
}

// forkOf is where timeline tli ended in the history of primary's timeline.
func forkOf(t *testing.T, primary *instance, tli uint32) LSN {
	t.Helper()
	st, err := primary.db.Probe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(primary.dir, "pg_wal", historyFileName(st.Timeline)))
	if err != nil {
		t.Fatal(err)
	}
	h, err := parseHistory(string(b))
	if err != nil {
		t.Fatal(err)
	}
	fork, ok := forkPoint(h, tli)
	if !ok {
		t.Fatalf("timeline %d not in the history of %s: %v", tli, primary.name, h)
	}
	return fork
}

// crashFenced stops in at once, as a crash leaves it (no shutdown
// checkpoint), and fences it as the agents fence a failed primary.
func (in *instance) crashFenced(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := in.db.Stop(ctx, StopImmediate); err != nil {
		t.Fatal(err)
	}
	if err := in.db.Fence(ctx, false); err != nil {
		t.Fatal(err)
	}
}

// assertRowsStreaming: in comes to hold exactly rows in t (ordered, comma
// separated), the rows of primary, and its WAL receiver streams.
func assertRowsStreaming(t *testing.T, in *instance, primary, rows string) {
	t.Helper()
	waitFor(t, 10*time.Second, primary+"'s rows on "+in.name, func() (bool, error) {
		got, err := in.sql("SELECT string_agg(v, ',' ORDER BY v) FROM t")
		return got == rows, err
	})
	if s := in.mustSQL("SELECT status FROM pg_stat_wal_receiver"); s != "streaming" {
		t.Errorf("%s's wal receiver: %q", in.name, s)
	}
}

func hasStep(rep RejoinReport, name string) bool {
	for _, s := range rep.Steps {
		if s.Name == name && s.Err == "" {
			return true
		}
	}
	return false
}

// pg_rewind refuses a target without wal_log_hints or checksums. With
// auto.basebackup the rejoin falls back to a base backup, keeping the old
// directory aside; without it the node stays stopped and fenced, and the
// report says why.
func TestRejoinRewindFailure(t *testing.T) {
	requirePG(t)
	t.Parallel()
	noHints := func(a *instance) {
		a.appendConf("wal_log_hints = off\n")
		a.pgctl("-m", "fast", "-w", "restart", "-l", a.dir+".log")
	}
	t.Run("no basebackup: stays fenced", func(t *testing.T) {
		t.Parallel()
		a, b, src := divergedPair(t, noHints)
		rep, err := a.db.Rejoin(context.Background(), a.planFrom(b, src, true, false))
		t.Logf("report: %s", rep)
		if err == nil || rep.Method != RejoinRefused || !strings.Contains(rep.Reason, "auto.basebackup is false") {
			t.Fatalf("rejoin: err %v, method %q, reason %q; want refused naming auto.basebackup", err, rep.Method, rep.Reason)
		}
		if running, _ := a.db.Running(context.Background()); running {
			t.Error("node runs after a refused rejoin")
		}
		if ok, _ := a.db.HasStandbySignal(context.Background()); !ok {
			t.Error("node not fenced after a refused rejoin")
		}
	})
	t.Run("basebackup fallback", func(t *testing.T) {
		t.Parallel()
		a, b, src := divergedPair(t, noHints)
		rep, err := a.db.Rejoin(context.Background(), a.planFrom(b, src, true, true))
		t.Logf("MEASURED rejoin by base backup after a failed rewind: %s", rep)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Method != RejoinBaseBackup || !strings.Contains(rep.Reason, "pg_rewind failed") {
			t.Fatalf("method %q reason %q, want a base backup after pg_rewind failed", rep.Method, rep.Reason)
		}
		if rep.MovedAside == "" || filepath.Dir(rep.MovedAside) != filepath.Dir(a.dir) {
			t.Fatalf("old data directory moved to %q", rep.MovedAside)
		}
		if _, err := os.Stat(filepath.Join(rep.MovedAside, "PG_VERSION")); err != nil {
			t.Errorf("old data directory not kept: %v", err)
		}
		assertStandbyOf(t, a, b)
	})
}

// An old primary that stopped cleanly before the promotion (everything it
// wrote reached the standby) is on the new primary's history: it follows
// without a rewind. A standby already streaming from the primary is not
// touched. A node whose timeline is newer than the "primary" is refused
// and left running: it may hold the newest commits.
func TestRejoinGuard(t *testing.T) {
	requirePG(t)
	t.Parallel()
	base := baseDir(t)
	a := startPrimary(t, base, "a")
	b := startStandby(t, base, "b", a)
	c := startStandby(t, base, "c", a)
	ctx := context.Background()
	a.mustSQL("CREATE TABLE t (v text)")
	waitReplayed(t, a, b)
	waitReplayed(t, a, c)
	src := settingsOf(t, b)

	rep, err := c.db.Rejoin(ctx, c.planFrom(a, src, true, true))
	if err != nil || rep.Method != RejoinNothing {
		t.Fatalf("rejoin of a streaming standby: %v, %s; want nothing to rejoin", err, rep)
	}
	if _, err := c.db.Rejoin(ctx, c.planFrom(b, src, true, true)); err == nil {
		t.Error("rejoin to a standby as primary succeeded")
	}

	if err := a.db.Stop(ctx, StopFast); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "b has a's shutdown checkpoint", func() (bool, error) {
		cd, err := a.db.ControlData(ctx)
		if err != nil {
			return false, err
		}
		s, err := b.sql("SELECT pg_last_wal_receive_lsn() > $1::text::pg_lsn", cd.Checkpoint.String())
		return s == "true", err
	})
	if err := b.db.Promote(ctx, 0); err != nil {
		t.Fatal(err)
	}
	b.mustSQL("INSERT INTO t VALUES ('from b')")

	rep, err = a.db.Rejoin(ctx, a.planFrom(b, src, true, false))
	t.Logf("MEASURED rejoin without rewind: %s", rep)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Method != RejoinFollow || hasStep(rep, "pg_rewind") {
		t.Fatalf("method %q, want %q without pg_rewind", rep.Method, RejoinFollow)
	}
	assertStandbyOf(t, a, b)

	// B (timeline 2, running, writable) must never be rebuilt from a
	// primary on an older timeline.
	d := startPrimary(t, base, "d")
	rep, err = b.db.Rejoin(ctx, b.planFrom(d, src, true, true))
	if err == nil || rep.Method != RejoinRefused || !strings.Contains(rep.Reason, "newer") {
		t.Fatalf("rejoin of the newer primary: %v, %s; want refused as newer", err, rep)
	}
	if r := b.mustSQL("SELECT pg_is_in_recovery()"); r != "false" {
		t.Fatal("the refused node was touched")
	}

	if _, err := a.db.Rejoin(ctx, RejoinPlan{Primary: b.db, Host: "127.0.0.1", Port: b.port, Settings: src}); err == nil ||
		!strings.Contains(err.Error(), "both false") {
		t.Errorf("rejoin with neither rewind nor basebackup: %v", err)
	}
	var ws *WrongStateError
	_, err = c.db.Rejoin(ctx, c.planFrom(c, src, true, true))
	if !errors.As(err, &ws) {
		t.Errorf("rejoin to a standby: %v, want a wrong-state error", err)
	}
}

// efm create-standby's hands: an absent data directory becomes a standby
// streaming from the primary, on its own port (db.port), with the copied
// replication settings; a directory with anything in it is refused and
// left alone.
func TestCreateStandby(t *testing.T) {
	requirePG(t)
	t.Parallel()
	base := baseDir(t)
	a := startPrimary(t, base, "a")
	b := startStandby(t, base, "b", a)
	ctx := context.Background()
	a.mustSQL("CREATE TABLE t (v text)")
	a.mustSQL("INSERT INTO t VALUES ('from b')") // the row assertStandbyOf expects
	src, err := b.db.ReplicationSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := newInstance(t, base, "n")
	walDir := filepath.Join(base, "n-wal")
	start := time.Now()
	if err := n.db.CreateStandby(ctx, src, "127.0.0.1", a.port, walDir); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(filepath.Join(n.dir, "pg_wal")); err != nil || target != walDir {
		t.Errorf("pg_wal links to %q (%v), want -waldir %s", target, err, walDir)
	}
	t.Logf("MEASURED create standby (base backup, start, streaming): %s", time.Since(start))
	assertStandbyOf(t, n, a)

	err = n.db.CreateStandby(ctx, src, "127.0.0.1", a.port, "")
	if !errors.Is(err, ErrDataDirInUse) || !strings.Contains(err.Error(), n.dir) {
		t.Errorf("create standby over a database: %v, want ErrDataDirInUse naming %s", err, n.dir)
	}
	if r := n.mustSQL("SELECT pg_is_in_recovery()"); r != "true" {
		t.Error("the refused standby was touched")
	}
}

// The old primary's WAL segment holding the last common checkpoint is gone
// (recycled, as without wal_keep_size); the new primary, which streamed
// it, still has it. The rejoin copies it from there, since it lies wholly
// before the fork point, and the rewind succeeds.
func TestRejoinFetchesRecycledWALFromPrimary(t *testing.T) {
	requirePG(t)
	t.Parallel()
	a, b := primaryAndStandby(t)
	ctx := context.Background()
	a.mustSQL("CHECKPOINT")
	common := a.mustSQL("SELECT pg_walfile_name(redo_lsn) FROM pg_control_checkpoint()")
	a.mustSQL("SELECT pg_switch_wal()")
	a.mustSQL("INSERT INTO t VALUES ('from b')") // a record past the switch, so the fork lies after it
	waitReplayed(t, a, b)
	src := settingsOf(t, b)
	b.mustSQL("SELECT pg_promote(true)")
	a.mustSQL("DELETE FROM t")
	a.mustSQL("INSERT INTO t VALUES ('diverged on a')")
	if err := a.db.Stop(ctx, StopFast); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(a.dir, "pg_wal", common)); err != nil {
		t.Fatal(err)
	}
	rep, err := a.db.Rejoin(ctx, a.planFrom(b, src, true, false))
	t.Logf("MEASURED rejoin with WAL fetched from the new primary: %s", rep)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Method != RejoinRewound || !hasStep(rep, "fetch WAL from new primary") {
		t.Fatalf("method %q, want %q after fetching %s", rep.Method, RejoinRewound, common)
	}
	assertStandbyOf(t, a, b)
}

// The rejoin's crash-recovery start accepts no connection, replication
// ones included: an old primary's WAL past the new primary's fork point
// must not reach a standby that still points at it (in the ten-failures
// test one streamed it by cascading, then could never follow the new
// primary). The same server started normally in recovery does accept a
// replication connection: the check can fail.
func TestCrashRecoveryStartServesNoWAL(t *testing.T) {
	requirePG(t)
	t.Parallel()
	base := baseDir(t)
	a := startPrimary(t, base, "a")
	ctx := context.Background()
	a.mustSQL("CREATE TABLE t (v int)")
	a.pgctl("-m", "immediate", "stop")
	if err := a.db.WriteStandbySignal(ctx); err != nil {
		t.Fatal(err)
	}
	replicate := func() error {
		cc, err := a.config().ConnConfig(testPassword)
		if err != nil {
			return err
		}
		cc.RuntimeParams["replication"] = "true"
		c, err := pgx.ConnectConfig(ctx, cc)
		if err == nil {
			c.Close(ctx)
		}
		return err
	}
	if err := a.db.startForRecoveryOnly(ctx); err != nil {
		t.Fatal(err)
	}
	if err := replicate(); err == nil {
		t.Errorf("a replication connection to the crash-recovery start was accepted")
	} else {
		t.Logf("crash-recovery start refuses replication: %v", err)
	}
	if err := a.db.Stop(ctx, StopFast); err != nil {
		t.Fatal(err)
	}
	a.start()
	waitFor(t, 30*time.Second, "a replication connection to the normal start", func() (bool, error) {
		err := replicate()
		return err == nil, err
	})
}

// Chaos seed 9016: an old primary that crashed with nothing the new
// primary lacks. pg_rewind finds no rewind required, and the segment that
// holds the fork point also holds the old primary's own last checkpoint:
// setting that whole segment aside left it unable to start ("could not
// locate a valid checkpoint record"), and every later rejoin failed for
// want of it. Only the WAL past the fork point may go.
func TestRejoinWithNothingDivergedKeepsTheWALBeforeTheFork(t *testing.T) {
	requirePG(t)
	t.Parallel()
	a, b := primaryAndStandby(t)
	ctx := context.Background()
	// a's last checkpoint in the segment the fork point will be in.
	a.mustSQL("SELECT pg_switch_wal()")
	a.mustSQL("CHECKPOINT")
	a.mustSQL("INSERT INTO t VALUES ('from a')")
	src := settingsOf(t, b)
	waitReplayed(t, a, b)
	a.crashFenced(t)
	if err := b.db.Promote(ctx, 2); err != nil {
		t.Fatal(err)
	}
	b.mustSQL("INSERT INTO t VALUES ('from b')")
	rep, err := a.db.Rejoin(ctx, a.planFrom(b, src, true, false))
	t.Logf("rejoin: %s", rep)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(a.dir, "openefm-pg_ctl.log"))
		t.Fatalf("%v\nserver log:\n%s", err, log)
	}
	assertRowsStreaming(t, a, "b", "from a,from b")
}

// A crashed primary's crash recovery must replay all of its own WAL before
// the rejoin stops it again: pg_ctl -w returns as soon as recovery starts
// (hot_standby=off), and a stop then leaves pg_control with the old
// checkpoint and no minimum recovery point, which pg_rewind takes for the
// end of the node's WAL (chaos seed 9016). Lots of WAL after the last
// checkpoint makes that replay take a while.
func TestRejoinCrashRecoveryReplaysAllLocalWAL(t *testing.T) {
	requirePG(t)
	t.Parallel()
	a, b := primaryAndStandby(t)
	ctx := context.Background()
	a.mustSQL("CHECKPOINT")
	a.mustSQL("INSERT INTO t SELECT repeat('x', 500) FROM generate_series(1, 60000)")
	last, err := ParseLSN(a.mustSQL("SELECT pg_current_wal_lsn()"))
	if err != nil {
		t.Fatal(err)
	}
	src := settingsOf(t, b)
	waitReplayed(t, a, b)
	a.crashFenced(t)
	if err := b.db.Promote(ctx, 2); err != nil {
		t.Fatal(err)
	}
	rep, err := a.db.Rejoin(ctx, a.planFrom(b, src, true, false))
	t.Logf("rejoin: %s", rep)
	if err != nil {
		t.Fatal(err)
	}
	var end LSN
	for _, s := range rep.Steps {
		if s.Name != "crash recovery" {
			continue
		}
		i := strings.Index(s.Detail, "WAL to ")
		if i < 0 {
			t.Fatalf("crash recovery step %q names no WAL end", s.Detail)
		}
		if end, err = ParseLSN(strings.Fields(s.Detail[i+len("WAL to "):])[0]); err != nil {
			t.Fatal(err)
		}
	}
	if end < last {
		t.Errorf("after the crash recovery pg_control says the WAL ends at %s; a wrote up to %s", end, last)
	}
}
