package pg

import (
	"context"
	"strings"
	"testing"
)

func TestParseControlData(t *testing.T) {
	out := `pg_control version number:            1300
Database system identifier:           7713777305540019928
Database cluster state:               shut down in recovery
Latest checkpoint location:           0/3000060
Latest checkpoint's REDO location:    0/3000028
Latest checkpoint's TimeLineID:       2
Minimum recovery ending location:     0/3000110
Min recovery ending loc's timeline:   3
wal_log_hints setting:                on
Data page checksum version:           0
`
	cd, err := parseControlData(out)
	if err != nil {
		t.Fatal(err)
	}
	want := ControlData{SystemIdentifier: "7713777305540019928", State: "shut down in recovery",
		Checkpoint: mustLSN(t, "0/3000060"), CheckpointTLI: 2, MinRecoveryEnd: mustLSN(t, "0/3000110"), MinRecoveryEndTLI: 3,
		WALLogHints: true}
	if cd != want {
		t.Errorf("parsed %+v\nwant   %+v", cd, want)
	}
	if !cd.CleanlyShutDown() || !cd.WasStandby() || cd.Timeline() != 3 || cd.End() != mustLSN(t, "0/3000110") {
		t.Errorf("clean %t standby %t timeline %d end %s", cd.CleanlyShutDown(), cd.WasStandby(), cd.Timeline(), cd.End())
	}
	if _, err := parseControlData("Database cluster state: in production\n"); err == nil || !strings.Contains(err.Error(), "Latest checkpoint location") {
		t.Errorf("truncated output: err = %v, want it to name the missing line", err)
	}
}

func TestParseHistory(t *testing.T) {
	h, err := parseHistory("1\t0/3000158\tno recovery target specified\n\n# comment\n2\t0/5000000\tat restore point\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0] != (TimelineSwitch{1, mustLSN(t, "0/3000158")}) || h[1] != (TimelineSwitch{2, mustLSN(t, "0/5000000")}) {
		t.Errorf("history = %+v", h)
	}
	for _, bad := range []string{"1\n", "x\t0/1\tr\n", "1\tzz\tr\n"} {
		if _, err := parseHistory(bad); err == nil {
			t.Errorf("parseHistory(%q) accepted", bad)
		}
	}
}

// The rejoin guard, case by case: who may be rewound, who is left alone.
func TestJudgeRejoin(t *testing.T) {
	lsn := func(s string) LSN { return mustLSN(t, s) }
	history := []TimelineSwitch{{1, lsn("0/3000000")}}
	primary := primaryPoint{TLI: 2, Current: lsn("0/4000000"), History: history}
	for _, tc := range []struct {
		name    string
		local   timelinePoint
		primary primaryPoint
		want    rejoinVerdict
		why     string
	}{
		{"old primary that wrote past the fork point: rewind",
			timelinePoint{TLI: 1, End: lsn("0/3500000"), WasPrimary: true, Exact: true}, primary, verdictDiverged, "past"},
		{"old primary stopped at the fork point (sync replication): follow as it is",
			timelinePoint{TLI: 1, End: lsn("0/3000000"), WasPrimary: true, Exact: true}, primary, verdictOnHistory, "nothing to rewind"},
		{"unclean stop before the fork point: WAL may go on, rewind decides",
			timelinePoint{TLI: 1, End: lsn("0/2000000"), WasPrimary: true}, primary, verdictDiverged, "lower bound"},
		{"standby that received past the fork point: rewind",
			timelinePoint{TLI: 1, End: lsn("0/3100000"), Exact: true}, primary, verdictDiverged, "past"},
		{"standby on the primary's timeline: nothing to rewind",
			timelinePoint{TLI: 2, End: lsn("0/3900000"), Exact: true}, primary, verdictOnHistory, "behind"},
		{"node on a newer timeline than the primary: refused",
			timelinePoint{TLI: 3, End: lsn("0/1000000"), WasPrimary: true, Exact: true}, primary, verdictRefuse, "newer"},
		{"primary on the same timeline: no promotion happened, refused",
			timelinePoint{TLI: 2, End: lsn("0/1000000"), WasPrimary: true, Exact: true}, primary, verdictRefuse, "no promotion"},
		{"standby read ahead of the primary on its timeline (the primary wrote meanwhile): on its history",
			timelinePoint{TLI: 2, End: lsn("0/5000000"), Exact: true}, primary, verdictOnHistory, "a moment before"},
		{"history unreadable: rewind decides",
			timelinePoint{TLI: 1, End: lsn("0/1000000"), WasPrimary: true, Exact: true},
			primaryPoint{TLI: 2, Current: lsn("0/4000000")}, verdictDiverged, "dry run"},
		{"timeline on another branch: rewind",
			timelinePoint{TLI: 2, End: lsn("0/1000000"), WasPrimary: true, Exact: true},
			primaryPoint{TLI: 3, Current: lsn("0/4000000"), History: history}, verdictDiverged, "not in the history"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := judgeRejoin(tc.local, tc.primary, "10.0.0.2")
			if got != tc.want || !strings.Contains(why, tc.why) {
				t.Errorf("judgeRejoin = %s (%s), want %s (%q)", got, why, tc.want, tc.why)
			}
		})
	}
}

// auto.rewind's check reads wal_log_hints as the next start will (a
// running server's file, not its memory) and passes a node without a
// database yet.
func TestCheckRewindable(t *testing.T) {
	requirePG(t)
	t.Parallel()
	base := baseDir(t)
	a := startPrimary(t, base, "a")
	ctx := context.Background()
	if err := a.db.CheckRewindable(ctx); err != nil {
		t.Errorf("wal_log_hints=on: %v", err)
	}
	a.appendConf("wal_log_hints = off\n")
	err := a.db.CheckRewindable(ctx)
	if err == nil || !strings.Contains(err.Error(), "wal_log_hints=off") || !strings.Contains(err.Error(), a.dir) {
		t.Errorf("wal_log_hints=off: err = %v, want it to name wal_log_hints and the data directory", err)
	}
	empty := newInstance(t, base, "empty").db
	if err := empty.CheckRewindable(ctx); err != nil {
		t.Errorf("no database yet: %v", err)
	}
}

func TestSegmentStart(t *testing.T) {
	for _, tc := range []struct {
		seg  string
		size int64
		tli  uint32
		lsn  string
	}{
		{"000000010000000000000003", 16 << 20, 1, "0/3000000"},
		{"0000000200000001000000FF", 16 << 20, 2, "1/FF000000"},
		{"000000010000000000000003", 1 << 20, 1, "0/300000"},
		{"000000010000000100000003", 1 << 20, 1, "1/300000"},
	} {
		tli, lsn, err := segmentStart(tc.seg, tc.size)
		if err != nil || tli != tc.tli || lsn != mustLSN(t, tc.lsn) {
			t.Errorf("segmentStart(%s, %d) = %d, %s, %v; want %d, %s", tc.seg, tc.size, tli, lsn, err, tc.tli, tc.lsn)
		}
	}
	if _, _, err := segmentStart("00000001000000000000000G", 1<<20); err == nil {
		t.Error("a bad segment name parsed")
	}
	out := `pg_rewind: servers diverged at WAL location 0/3000000 on timeline 1
pg_rewind: error: could not open file "/data/a/pg_wal/000000010000000000000002": No such file or directory
pg_rewind: error: could not find previous WAL record at 0/2000060`
	if got := missingSegment(out); got != "000000010000000000000002" {
		t.Errorf("missingSegment = %q", got)
	}
}

func TestRedactPasswords(t *testing.T) {
	for in, want := range map[string]string{
		"pg_rewind --source-server=host=a password=s3cret user=x": "pg_rewind --source-server=host=a password=***** user=x",
		`pg_basebackup -d host=a password = 'it\'s me' port=5`:    "pg_basebackup -d host=a password=***** port=5",
		"pg_rewind --source-server=host=a passfile=/p user=x":     "pg_rewind --source-server=host=a passfile=/p user=x",
	} {
		if got := redactPasswords(in); got != want {
			t.Errorf("redactPasswords(%q) = %q, want %q", in, got, want)
		}
	}
}
