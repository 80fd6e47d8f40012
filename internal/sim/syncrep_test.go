package sim

import "testing"

// TestSimulationSyncReconfigurationGivesUpOnlyLoweredCommits: commits
// acknowledged while num_sync was lowered or cleared are what
// reconfigure.num.sync and reconfigure.sync.primary give up. Booking them
// as synchronous must make the durability invariant fail within the
// default run (so the run does lower num_sync and lose such commits), while
// the same seed booked honestly is clean.
func TestSimulationSyncReconfigurationGivesUpOnlyLoweredCommits(t *testing.T) {
	broken := func(c *Config) { c.BrokenAsyncIsSync = true }
	n := envInt(t, "EFM_SIM_SCHEDULES", defaultSchedules)
	first, _, steps, _, _ := runMany(envInt(t, "EFM_SIM_BASE", 1), n, broken, true)
	if first == nil {
		t.Fatalf("%d schedules (%d steps): no promotion ever lost a commit acknowledged under a lowered num_sync", n, steps)
	}
	t.Logf("a commit acknowledged under a lowered num_sync was lost in seed %d: %v", first.seed, first.err)
	if fixed := runSeed(first.seed, nil); fixed.err != nil {
		t.Errorf("seed %d fails even with honest booking: %v\n%s", first.seed, fixed.err, fixed.trace)
	}
}
