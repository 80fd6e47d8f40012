package harness

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// A writer with WriterOptions.Hosts finds the primary through a multi-host
// connection string with target_session_attrs=read-write: the standby is
// listed first and the VIP (its nominal target) is held by nobody, so
// every acknowledged commit proves the string was used and the standby
// skipped; the failed attempts keep their times for a history checker.
func TestWriterMultiHost(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	c, err := NewCluster(ctx, t, ClusterOptions{DBHosts: 2})
	if err != nil {
		t.Fatal(err)
	}
	w := StartWriter(t, c.Client, netip.AddrPortFrom(c.VIP, PGPort), WriterOptions{Hosts: []netip.Addr{c.DB[1].Host.Addr, c.DB[0].Host.Addr}})
	if err := w.WaitAcks(ctx, 30*time.Second, time.Now(), 10); err != nil {
		t.Fatalf("no commits through the multi-host string: %v", err)
	}
	// Stop the primary: attempts fail and are kept with their times.
	if err := c.DB[0].Stop(ctx, "immediate"); err != nil {
		t.Fatal(err)
	}
	err = Eventually(ctx, 10*time.Second, 20*time.Millisecond, func(context.Context) (bool, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.failed) > 0, nil
	})
	if err != nil {
		t.Fatalf("no failed attempt recorded with the primary stopped: %v", err)
	}
	r := w.Stop()
	for dir, n := range r.AckedBy() {
		if dir != c.DB[0].DataDir {
			t.Errorf("%d commits acknowledged by %s, want only the primary's %s", n, dir, c.DB[0].DataDir)
		}
	}
	if len(r.Failed) != len(r.Uncertain) {
		t.Errorf("%d failed attempts with times, %d uncertain ids: want one each", len(r.Failed), len(r.Uncertain))
	}
	for _, f := range r.Failed {
		if f.Sent.IsZero() || f.Failed.Before(f.Sent) {
			t.Errorf("failed attempt %d: sent %v, failed %v", f.ID, f.Sent, f.Failed)
		}
	}
	t.Logf("%s; %d failed attempts", r.Summary(), len(r.Failed))
}
