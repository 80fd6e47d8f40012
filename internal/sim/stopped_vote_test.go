package sim

import "testing"

// TestSimulationStoppedVoterSeeds: two databases without a witness, the old
// primary fenced with its database stopped and its agent restarted (no WAL
// position of its own). Its vote is the second of two: before the voter
// read its stopped data directory (core/stopped.go) it refused every
// candidate and nothing was ever promoted for it to rejoin (liveness
// stalls of the 100,000-schedule run).
func TestSimulationStoppedVoterSeeds(t *testing.T) {
	replaySeeds(t, 47938, 60731, 64354, 67466, 80927, 81300, 86134)
}
