package pg

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
)

// TimelineSwitch is one line of a timeline history file: timeline TLI
// ended at End, where its child began.
type TimelineSwitch struct {
	TLI uint32
	End LSN
}

// parseHistory reads a timeline history file ("<tli>\t<X/Y>\t<reason>"
// lines, # comments), oldest ancestor first.
func parseHistory(s string) ([]TimelineSwitch, error) {
	var h []TimelineSwitch
	sc := bufio.NewScanner(strings.NewReader(s))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("timeline history line %d: want <timeline> <lsn> <reason>", n)
		}
		tli, err := strconv.ParseUint(f[0], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("timeline history line %d: %w", n, err)
		}
		end, err := ParseLSN(f[1])
		if err != nil {
			return nil, fmt.Errorf("timeline history line %d: %w", n, err)
		}
		h = append(h, TimelineSwitch{TLI: uint32(tli), End: end})
	}
	return h, nil
}

// timelinePoint is where a node's WAL ends: its newest timeline and
// position there.
type timelinePoint struct {
	TLI uint32
	End LSN
	// WasPrimary: the node wrote WAL of its own on TLI (a primary, or a
	// directory shut down out of recovery) rather than replaying it.
	WasPrimary bool
	// Exact is false when End may underestimate (an unclean shutdown:
	// WAL may go on past the last checkpoint).
	Exact bool
}

// primaryPoint is the new primary's side: its timeline, current position
// and timeline history (nil when it could not be read).
type primaryPoint struct {
	TLI     uint32
	Current LSN
	History []TimelineSwitch
}

// rejoinVerdict is what the timeline comparison allows.
type rejoinVerdict int

const (
	// verdictOnHistory: this node's WAL is a prefix of the primary's
	// history; it can follow as it is, nothing is rewound.
	verdictOnHistory rejoinVerdict = iota + 1
	// verdictDiverged: this node has WAL the primary's history lacks (or
	// the history could not be read): a rewind (or base backup) is needed,
	// and pg_rewind's dry run has the last word.
	verdictDiverged
	// verdictRefuse: this node may hold commits the primary lacks on a
	// timeline at least as new: it is never rebuilt automatically.
	verdictRefuse
)

func (v rejoinVerdict) String() string {
	switch v {
	case verdictOnHistory:
		return "on the primary's history"
	case verdictDiverged:
		return "diverged"
	case verdictRefuse:
		return "refused"
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// judgeRejoin compares this node's timeline position with the new
// primary's, the test pg_rewind makes (findCommonAncestorTimeline), plus
// the guard that a node whose timeline is not older than the primary's is
// never rebuilt: it may be the newest copy of the data, and only a
// promotion (a new timeline) makes the old primary's divergence safe to
// discard.
func judgeRejoin(local timelinePoint, primary primaryPoint, primaryName string) (rejoinVerdict, string) {
	switch {
	case local.TLI > primary.TLI:
		return verdictRefuse, fmt.Sprintf("this node's timeline %d is newer than the timeline %d of %s: it may hold commits %s lacks",
			local.TLI, primary.TLI, primaryName, primaryName)
	case local.TLI == primary.TLI && local.WasPrimary:
		return verdictRefuse, fmt.Sprintf("this node was a primary on timeline %d, the timeline %s is on now: no promotion happened since, so its commits may be the newest",
			local.TLI, primaryName)
	case local.TLI == primary.TLI && local.End > primary.Current:
		// A standby on the primary's own timeline got every record of it
		// from that primary, directly or by cascading; it reads "ahead"
		// only because the primary went on writing between the two reads
		// (chaos seed 2000: refused every 10 s for good, while it streamed).
		return verdictOnHistory, fmt.Sprintf("this node is a standby on timeline %d at %s, the timeline %s writes (at %s a moment before): nothing to rewind",
			local.TLI, local.End, primaryName, primary.Current)
	case local.TLI == primary.TLI:
		return verdictOnHistory, fmt.Sprintf("this node is a standby on timeline %d at %s, behind %s at %s: nothing to rewind",
			local.TLI, local.End, primaryName, primary.Current)
	case primary.History == nil:
		return verdictDiverged, fmt.Sprintf("timeline %d is older than the timeline %d of %s, whose history could not be read: pg_rewind's dry run decides",
			local.TLI, primary.TLI, primaryName)
	}
	for _, sw := range primary.History {
		if sw.TLI != local.TLI {
			continue
		}
		if local.End <= sw.End && local.Exact {
			return verdictOnHistory, fmt.Sprintf("this node's WAL ends at %s on timeline %d, at or before %s's fork point %s: nothing to rewind",
				local.End, local.TLI, primaryName, sw.End)
		}
		if local.End <= sw.End {
			return verdictDiverged, fmt.Sprintf("this node's WAL on timeline %d reaches at least %s, and may go past %s's fork point %s (pg_control gives only a lower bound): pg_rewind decides",
				local.TLI, local.End, primaryName, sw.End)
		}
		return verdictDiverged, fmt.Sprintf("this node's WAL goes to %s on timeline %d, past %s's fork point %s: its extra WAL is not on the primary",
			local.End, local.TLI, primaryName, sw.End)
	}
	return verdictDiverged, fmt.Sprintf("timeline %d is not in the history of %s (timeline %d)", local.TLI, primaryName, primary.TLI)
}

// historyFileName is the name of timeline tli's history file in pg_wal.
func historyFileName(tli uint32) string { return fmt.Sprintf("%08X.history", tli) }

// primaryTimeline reads the new primary's timeline, position and history
// over SQL. The history is read with pg_read_file, which needs superuser or
// pg_read_server_files; without it History is nil (pg_rewind's dry run
// then decides). The primary must not be in recovery.
func (d *DB) primaryTimeline(ctx context.Context) (primaryPoint, error) {
	st, err := d.Probe(ctx)
	if err != nil {
		return primaryPoint{}, err
	}
	if err := CheckRole(d.cfg.Node, RolePrimary, st); err != nil {
		return primaryPoint{}, err
	}
	p := primaryPoint{TLI: st.Timeline, Current: st.CurrentLSN}
	if p.TLI <= 1 {
		p.History = []TimelineSwitch{}
		return p, nil
	}
	var text string
	if err := d.queryRow(ctx, "read timeline history", "SELECT pg_read_file($1)", []any{"pg_wal/" + historyFileName(p.TLI)}, &text); err != nil {
		d.log.Info("timeline history of the primary not readable; pg_rewind's dry run will decide", "err", err)
		return p, nil
	}
	h, err := parseHistory(text)
	if err != nil {
		return primaryPoint{}, fmt.Errorf("%s of %s: %w", historyFileName(p.TLI), d.cfg.Node, err)
	}
	p.History = h
	return p, nil
}

// newestLocalHistory is the highest timeline with a history file in this
// node's pg_wal (0 if none): a node promoted and crashed before its first
// checkpoint on the new timeline shows the old one in pg_control, but has
// written the new timeline's history file.
func (d *DB) newestLocalHistory(ctx context.Context) (uint32, error) {
	names, err := d.walNames(ctx)
	if err != nil {
		return 0, err
	}
	var newest uint32
	for _, n := range names {
		hex, ok := strings.CutSuffix(n, ".history")
		if !ok || len(hex) != 8 {
			continue
		}
		if v, err := strconv.ParseUint(hex, 16, 32); err == nil {
			newest = max(newest, uint32(v))
		}
	}
	return newest, nil
}
