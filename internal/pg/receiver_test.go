package pg

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// TestDetachReceiver: the receiver process streaming from the primary is
// gone when DetachReceiver returns (its connection closed with it), and the
// standby later streams again through a new one; on a primary, which has no
// receiver, it does nothing.
func TestDetachReceiver(t *testing.T) {
	requirePG(t)
	t.Parallel()
	base := baseDir(t)
	a := startPrimary(t, base, "a")
	b := startStandby(t, base, "b", a)
	ctx := context.Background()
	a.mustSQL("CREATE TABLE t (v int)")
	waitReplayed(t, a, b)
	receiver := func() int {
		s := b.mustSQL("SELECT coalesce((SELECT pid FROM pg_stat_wal_receiver WHERE status = 'streaming'), 0)")
		pid, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("receiver pid %q: %v", s, err)
		}
		return pid
	}
	var before int
	waitFor(t, 10*time.Second, "a streaming receiver", func() (bool, error) {
		before = receiver()
		return before != 0, nil
	})
	if err := b.db.DetachReceiver(ctx); err != nil {
		t.Fatal(err)
	}
	if !processGone(before) {
		t.Fatalf("receiver %d still alive after DetachReceiver", before)
	}
	// The startup process opens a new connection (wal_retrieve_retry_interval
	// later) and what the primary writes arrives again.
	a.mustSQL("INSERT INTO t SELECT generate_series(1, 100)")
	waitReplayed(t, a, b)
	if after := receiver(); after == before || after == 0 {
		t.Errorf("receiver after the detach: pid %d (before %d), want a new streaming one", after, before)
	}
	if err := a.db.DetachReceiver(ctx); err != nil {
		t.Errorf("DetachReceiver on a primary (no receiver): %v", err)
	}
}
