package pg

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestParseSyncStandbyNames(t *testing.T) {
	for _, tc := range []struct {
		in     string
		method SyncMethod
		num    int
		names  []string
		out    string // String() of the parse
	}{
		{"", "", 0, nil, ""},
		{"  ", "", 0, nil, ""},
		{"s1", SyncFirst, 1, []string{"s1"}, "FIRST 1 (s1)"},
		{"s1, s2", SyncFirst, 1, []string{"s1", "s2"}, "FIRST 1 (s1, s2)"},
		{"2 (s1, s2, s3)", SyncFirst, 2, []string{"s1", "s2", "s3"}, "FIRST 2 (s1, s2, s3)"},
		{"FIRST 2 (s1, s2)", SyncFirst, 2, []string{"s1", "s2"}, "FIRST 2 (s1, s2)"},
		{"first 1(a,b)", SyncFirst, 1, []string{"a", "b"}, "FIRST 1 (a, b)"},
		{"ANY 1 (a, b)", SyncAny, 1, []string{"a", "b"}, "ANY 1 (a, b)"},
		{"any 2 (*)", SyncAny, 2, []string{"*"}, "ANY 2 (*)"},
		{"*", SyncFirst, 1, []string{"*"}, "FIRST 1 (*)"},
		{`ANY 1 ("Node 2", "a""b", node_3)`, SyncAny, 1, []string{"Node 2", `a"b`, "node_3"}, `ANY 1 ("Node 2", "a""b", node_3)`},
		{`FIRST 1 ("10.0.0.12", "first")`, SyncFirst, 1, []string{"10.0.0.12", "first"}, `FIRST 1 ("10.0.0.12", "first")`},
		{"Mixed", SyncFirst, 1, []string{"Mixed"}, `FIRST 1 ("Mixed")`},
		{"3", SyncFirst, 1, []string{"3"}, `FIRST 1 ("3")`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			s, err := ParseSyncStandbyNames(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if s.Method != tc.method || s.Num != tc.num || strings.Join(s.Names, "|") != strings.Join(tc.names, "|") {
				t.Errorf("parsed %+v, want %s %d %q", s, tc.method, tc.num, tc.names)
			}
			if got := s.String(); got != tc.out {
				t.Errorf("String() = %q, want %q", got, tc.out)
			}
			// What String writes parses back to the same setting.
			back, err := ParseSyncStandbyNames(s.String())
			if err != nil || back.String() != s.String() {
				t.Errorf("round trip of %q: %q, %v", s.String(), back.String(), err)
			}
		})
	}
	for _, bad := range []string{"FIRST 2", "ANY (a)", "2 (a, b", `"a`, "a b", "0 (a)", "a,", "FIRST 1 (a) b", "a;b"} {
		if s, err := ParseSyncStandbyNames(bad); err == nil {
			t.Errorf("ParseSyncStandbyNames(%q) = %+v, want an error", bad, s)
		} else if !strings.Contains(err.Error(), "synchronous_standby_names") {
			t.Errorf("error for %q does not name the setting: %v", bad, err)
		}
	}
}

func TestSyncStandbyNamesWithNum(t *testing.T) {
	s, _ := ParseSyncStandbyNames("ANY 2 (a, b, c)")
	for _, tc := range []struct {
		from string
		n    int
		want string // "" = an error
	}{
		{"ANY 2 (a, b, c)", 1, "ANY 1 (a, b, c)"},
		{"ANY 2 (a, b, c)", 3, "ANY 3 (a, b, c)"},
		{"ANY 2 (a, b, c)", 4, ""},
		{"ANY 2 (a, b, c)", 0, ""},
		{"FIRST 1 (*)", 3, "FIRST 3 (*)"},
		{"", 1, ""},
	} {
		s, _ = ParseSyncStandbyNames(tc.from)
		got, err := s.WithNum(tc.n)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%q with num_sync %d = %q, want an error", tc.from, tc.n, got)
		case tc.want != "" && (err != nil || got.String() != tc.want):
			t.Errorf("%q with num_sync %d = %q, %v; want %q", tc.from, tc.n, got, err, tc.want)
		}
	}
	if s, _ = ParseSyncStandbyNames("FIRST 2 (a, b)"); func() bool { _, _ = s.WithNum(1); return s.Num != 2 }() {
		t.Error("WithNum changed its receiver")
	}
}

// A commit blocked on a synchronous standby that is not there completes
// once num_sync is lowered to the standbys that are, and one blocked on
// only missing standbys completes once synchronous replication is
// cleared: reconfigure.num.sync and reconfigure.sync.primary on a real
// server.
func TestLoweringNumSyncReleasesBlockedCommit(t *testing.T) {
	requirePG(t)
	t.Parallel()
	base := baseDir(t)
	a := startPrimary(t, base, "a")
	b := startStandby(t, base, "b", a)
	ctx := context.Background()
	a.mustSQL("CREATE TABLE t (v int)")
	waitReplayed(t, a, b)
	// b replies only when WAL arrives (or every 300 s): the release must
	// not wait for an idle standby's periodic reply.
	b.mustSQL("ALTER SYSTEM SET wal_receiver_status_interval = '300s'")
	b.mustSQL("SELECT pg_reload_conf()")
	// pg_basebackup -R leaves application_name unset: b's wal receiver
	// reports "walreceiver". "Missing C" never connects.
	cases := []struct {
		name  string
		set   string
		heal  func() error
		after string
	}{
		{"lower num_sync", `FIRST 2 (walreceiver, "Missing C")`, func() error {
			before, after, err := a.db.SetNumSync(ctx, 1)
			t.Logf("num_sync %q -> %q", before, after)
			return err
		}, `FIRST 1 (walreceiver, "Missing C")`},
		{"clear", `ANY 1 ("Missing C")`, func() error { return a.db.ClearSyncStandbyNames(ctx) }, ""},
	}
	for i, tc := range cases {
		s, err := ParseSyncStandbyNames(tc.set)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.db.SetSyncStandbyNames(ctx, s); err != nil {
			t.Fatal(err)
		}
		if got, err := a.db.SyncStandbyNames(ctx); err != nil || got.String() != tc.set {
			t.Fatalf("%s: synchronous_standby_names = %q, %v; want %q", tc.name, got, err, tc.set)
		}
		done := make(chan error, 1)
		go func() {
			cc, err := a.config().ConnConfig(testPassword)
			if err != nil {
				done <- err
				return
			}
			cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			c, err := pgx.ConnectConfig(cctx, cc)
			if err != nil {
				done <- err
				return
			}
			defer c.Close(context.Background())
			_, err = c.Exec(cctx, "INSERT INTO t VALUES ($1)", i)
			done <- err
		}()
		// The server takes the reload asynchronously.
		waitFor(t, 10*time.Second, tc.name+": walreceiver counting toward num_sync only when named", func() (bool, error) {
			reps, err := a.db.Replicas(ctx)
			return err == nil && len(reps) == 1 && reps[0].ApplicationName == "walreceiver" && reps[0].Counts() == (i == 0), err
		})
		waitFor(t, 10*time.Second, tc.name+": a commit waiting for a synchronous standby", func() (bool, error) {
			n, err := a.sql("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")
			return n == "1", err
		})
		start := time.Now()
		if err := tc.heal(); err != nil {
			t.Fatal(err)
		}
		// Released by the time the change returns, not at the standby's
		// next periodic reply.
		if n := a.mustSQL("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"); n != "0" {
			t.Errorf("%s: %s commits still wait for a standby when the change returns", tc.name, n)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: blocked commit: %v", tc.name, err)
			}
			t.Logf("MEASURED %s: blocked commit completed %s after the change", tc.name, time.Since(start))
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: the commit still waits 30s after the change", tc.name)
		}
		if got, err := a.db.SyncStandbyNames(ctx); err != nil || got.String() != tc.after {
			t.Errorf("%s: synchronous_standby_names = %q, %v; want %q", tc.name, got, err, tc.after)
		}
		if auto, _ := a.sql("SELECT setting FROM pg_file_settings WHERE name = 'synchronous_standby_names' AND sourcefile LIKE '%auto.conf' AND applied"); auto != tc.after {
			t.Errorf("%s: postgresql.auto.conf holds %q, want %q (survives a restart)", tc.name, auto, tc.after)
		}
	}
}
