package chaos

import (
	"fmt"
	"strings"
	"time"
)

// Table renders one line per run, with a totals line: what a chaos run
// prints whether it passed or not.
func Table(rs []Result) string {
	var b strings.Builder
	b.WriteString("| schedule (seed) | topology | faults injected | skipped | failovers | longest write gap VIP / multi-host | acknowledged VIP / multi-host | lost (sync) | lost (async) | split-brain intervals | linearizable | settled in | final state |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	var inj, skip, fo, acked, lost, async, split int
	var gap time.Duration
	for _, r := range rs {
		settled := "NOT SETTLED"
		if r.Settled {
			settled = fmt.Sprintf("%.1f s", r.SettleTime.Seconds())
		}
		lin := r.Linearizable
		if lin == "" {
			lin = "n/a"
		}
		fmt.Fprintf(&b, "| %d | %d db + witness | %d | %d | %d | %.2f s / %.2f s | %d / %d | %d | %d | %d | %s | %s | %s |\n",
			r.Schedule.Seed, r.Schedule.DBHosts, r.Injected, r.Skipped, r.Failovers, r.MaxGap.Seconds(), r.MaxGapMulti.Seconds(),
			r.Acked, r.AckedMulti, len(r.Lost), r.AsyncLost, len(r.SplitBrain), lin, settled, r.Final)
		inj += r.Injected
		skip += r.Skipped
		fo += r.Failovers
		acked += r.Acked + r.AckedMulti
		lost += len(r.Lost)
		async += r.AsyncLost
		split += len(r.SplitBrain)
		gap = max(gap, r.MaxGap, r.MaxGapMulti)
	}
	fmt.Fprintf(&b, "| all %d | | %d | %d | %d | max %.2f s | %d | %d | %d | %d | | | |\n", len(rs), inj, skip, fo, gap.Seconds(), acked, lost, async, split)
	return b.String()
}
