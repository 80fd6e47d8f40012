package pg

import (
	"bufio"
	"context"
	"fmt"
	"path/filepath"
	"slices"
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
// node's pg_wal, placeholders left out (0 if none): a node promoted and crashed before its first
// checkpoint on the new timeline shows the old one in pg_control, but has
// written the new timeline's history file.
func (d *DB) newestLocalHistory(ctx context.Context) (uint32, error) {
	tlis, err := d.historyFiles(ctx)
	if err != nil {
		return 0, err
	}
	for _, tli := range tlis {
		// A placeholder holds no WAL (reserveTimelines).
		if ph, err := d.isPlaceholder(ctx, tli); err != nil || !ph {
			return tli, err
		}
	}
	return 0, nil
}

// placeholderMark starts every placeholder history file ReserveTimelines
// writes; PostgreSQL reads it as a comment.
const placeholderMark = "# OpenEFM placeholder"

// reserveTimelines makes this standby's promotion create timeline atLeast
// or one above. PostgreSQL gives a promotion the ID one above the newest
// history file it finds counting up from its own timeline
// (findNewestTimeLine); another node may have created a timeline with one
// of those IDs that this server never saw (chaos seed 7007), and the agents
// reserved atLeast above all of them (core/timeline.go). So every ID below
// atLeast without a history file gets a placeholder: a file of comments,
// which PostgreSQL only probes for existence here. A standby that follows
// the new primary later fetches the whole range of history files, so the
// placeholders stay; clearLeftoverPlaceholders removes the ones a promotion
// that did not happen left on top. It returns the files written, fsynced.
func (d *DB) reserveTimelines(ctx context.Context, atLeast uint32) ([]string, error) {
	if atLeast <= 2 {
		return nil, nil
	}
	names, err := d.walNames(ctx)
	if err != nil {
		return nil, fmt.Errorf("reserving timeline %d: %w", atLeast, err)
	}
	have := make(map[string]bool, len(names))
	for _, n := range names {
		have[n] = true
	}
	var wrote []string
	for tli := uint32(2); tli < atLeast; tli++ {
		name := historyFileName(tli)
		if have[name] {
			continue
		}
		p := d.dataPath(filepath.Join("pg_wal", name))
		content := fmt.Sprintf("%s: timeline %d holds no WAL of this server.\n"+
			"# It makes the promotion of %s choose timeline %d or above: the agents reserved that one\n"+
			"# because another node may have created a timeline with a lower ID that this server never saw.\n",
			placeholderMark, tli, d.cfg.Node, atLeast)
		if err := d.writeOwnerFile(ctx, p, []byte(content)); err != nil {
			return wrote, fmt.Errorf("reserving timeline %d: %w", atLeast, err)
		}
		wrote = append(wrote, p)
	}
	if len(wrote) > 0 {
		// A crash after the promotion must not lose them: a standby on
		// an older timeline could then not fetch the range it needs.
		if _, err := d.runOwner(ctx, nil, append([]string{"sync"}, append(wrote, d.dataPath("pg_wal"))...)...); err != nil {
			return wrote, fmt.Errorf("reserving timeline %d: fsync: %w", atLeast, err)
		}
		d.log.Info("placeholder history files written so that the promotion picks the reserved timeline",
			"timeline", atLeast, "files", len(wrote))
	}
	return wrote, nil
}

// historyFiles lists the timelines with a history file in pg_wal, newest
// first.
func (d *DB) historyFiles(ctx context.Context) ([]uint32, error) {
	names, err := d.walNames(ctx)
	if err != nil {
		return nil, err
	}
	var tlis []uint32
	for _, n := range names {
		hex, ok := strings.CutSuffix(n, ".history")
		if !ok || len(hex) != 8 {
			continue
		}
		if v, err := strconv.ParseUint(hex, 16, 32); err == nil {
			tlis = append(tlis, uint32(v))
		}
	}
	slices.Sort(tlis)
	slices.Reverse(tlis)
	return tlis, nil
}

// isPlaceholder reports whether timeline tli's history file is one
// reserveTimelines wrote.
func (d *DB) isPlaceholder(ctx context.Context, tli uint32) (bool, error) {
	b, err := d.readOwnerFile(ctx, d.dataPath(filepath.Join("pg_wal", historyFileName(tli))))
	if err != nil {
		return false, err
	}
	return strings.HasPrefix(string(b), placeholderMark), nil
}

// clearLeftoverPlaceholders removes the placeholders above this server's
// newest real history file: a promotion that reserved them did not happen
// (failed, or the agent died between), and PostgreSQL would otherwise
// start recovery towards the newest one and refuse it ("requested timeline
// is not a child of this server's history"). Placeholders below a real
// history file are kept: standbys of that timeline fetch them. Only for a
// server that is not running.
func (d *DB) clearLeftoverPlaceholders(ctx context.Context) error {
	tlis, err := d.historyFiles(ctx)
	if err != nil {
		return err
	}
	for _, tli := range tlis {
		ph, err := d.isPlaceholder(ctx, tli)
		if err != nil {
			return err
		}
		if !ph {
			return nil
		}
		if err := d.removeOwnerFile(ctx, d.dataPath(filepath.Join("pg_wal", historyFileName(tli)))); err != nil {
			return err
		}
		d.log.Warn("removed a placeholder history file a promotion that did not happen left", "timeline", tli)
	}
	return nil
}

// clearPlaceholdersBeforeStart runs clearLeftoverPlaceholders before a
// start; a failure is logged: the start then says what is wrong.
func (d *DB) clearPlaceholdersBeforeStart(ctx context.Context) {
	if err := d.clearLeftoverPlaceholders(ctx); err != nil {
		d.log.Warn("checking pg_wal for placeholder history files left by a promotion that did not happen", "err", err)
	}
}
