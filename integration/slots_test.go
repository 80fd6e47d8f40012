package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/integration/harness"
	"github.com/openefm/efm/internal/pg"
)

// slotOf is the efm_ slot name of a host's node (its agent's address).
func slotOf(h *harness.Host) string { return pg.SlotName(h.Addr.String()) }

// With update.physical.slots.period=1 each standby keeps a slot for its
// peer; after n1's postmaster is killed and a standby promoted, the other
// standby streams from the new primary through its efm_ slot, which the
// new primary already had; and the new primary's synchronous_standby_names
// names the old primary instead of itself.
func TestSlotsFollowersStreamThroughSlotsAfterFailover(t *testing.T) {
	c, ctx := startCluster(t, harness.ClusterOptions{Sync: true, Props: map[string]string{
		"update.physical.slots.period": "1",
		// Let the agents manage synchronous_standby_names, so the new
		// primary's lists the old one in place of itself.
		"check.num.sync.period": "1",
		"reconfigure.num.sync":  "true",
	}})
	n2, n3 := c.PG("n2"), c.PG("n3")
	// Each standby keeps its peer's slot, advanced.
	for _, pair := range [][2]*harness.PG{{n2, n3}, {n3, n2}} {
		on, peer := pair[0], pair[1]
		name := slotOf(peer.Host)
		err := harness.Eventually(ctx, 30*time.Second, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
			lsn, err := on.QueryString(ctx, "SELECT coalesce((SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = $1), '')", name)
			return err == nil && lsn != "", fmt.Errorf("slot %s on %s: restart_lsn %q, err %v", name, on.Host.Name, lsn, err)
		})
		if err != nil {
			t.Fatalf("the standby never kept its peer's slot: %v", err)
		}
	}
	t.Logf("n2 keeps %s and n3 keeps %s", slotOf(n3.Host), slotOf(n2.Host))
	w := c.StartWriter(harness.WriterOptions{})
	if err := w.WaitAcks(ctx, 30*time.Second, time.Now(), 20); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DB[0].KillPostmaster(); err != nil {
		t.Fatal(err)
	}
	fault := time.Now()
	np := newPrimary(ctx, t, c, "n1", 90*time.Second)
	other := n3
	if np == "n3" {
		other = n2
	}
	name := slotOf(other.Host)
	checkFollows(ctx, t, c, np, "n1")
	err := harness.Eventually(ctx, 60*time.Second, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		active, err := c.PG(np).QueryString(ctx, "SELECT coalesce((SELECT active::text FROM pg_replication_slots WHERE slot_name = $1), 'missing')", name)
		return err == nil && active == "true", fmt.Errorf("slot %s on the new primary %s: active %q, err %v", name, np, active, err)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("measured: %s streams from the new primary %s through slot %s, %v after the kill", other.Host.Name, np, name, time.Since(fault).Round(time.Millisecond))
	if got, err := other.QueryString(ctx, "SELECT current_setting('primary_slot_name')"); err != nil || got != name {
		t.Errorf("%s's primary_slot_name is %q (err %v), want %q", other.Host.Name, got, err, name)
	}
	// synchronous_standby_names was 'ANY 1 (n2, n3)' everywhere: the new
	// primary lists n1 (to be rejoined) in its own place, form kept.
	want := "ANY 1 (n1, n3)"
	if np == "n3" {
		want = "ANY 1 (n2, n1)"
	}
	renamed := waitSyncNames(ctx, t, c.PG(np), want, 30*time.Second)
	t.Logf("measured: the new primary %s's synchronous_standby_names became %q %v after the kill", np, want, renamed.Sub(fault).Round(time.Millisecond))
	if err := w.WaitAcks(ctx, 60*time.Second, fault, 20); err != nil {
		t.Fatalf("the client cannot commit after the failover: %v", err)
	}
	wr := w.Stop()
	checkLost(ctx, t, wr, c.PG(np), true)
	// The slot was there before the follower asked for it: created by the
	// slot synchronisation, not by the follow (which logs when it must).
	if log := c.Agent(other.Host.Name).Log(); strings.Contains(log, "following without a slot") {
		t.Errorf("%s followed without its slot", other.Host.Name)
	}
}
