package harness

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var base = time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }

func TestWriterReportMaxGap(t *testing.T) {
	acks := func(ms ...int) []Ack {
		var out []Ack
		for i, m := range ms {
			out = append(out, Ack{ID: int64(i + 1), Sent: at(m - 1), Acked: at(m)})
		}
		return out
	}
	tests := []struct {
		name    string
		acks    []Ack
		stopped int
		want    Gap
	}{
		{"outage between two commits", acks(20, 40, 3040, 3060), 3070, Gap{From: at(40), To: at(3040), After: 2, Before: 3}},
		{"outage never ended", acks(20, 40), 5000, Gap{From: at(40), To: at(5000), After: 2}},
		{"slow start", acks(900, 920), 930, Gap{From: at(0), To: at(900), Before: 1}},
		{"no commit at all", nil, 700, Gap{From: at(0), To: at(700)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := WriterReport{Acks: tt.acks, Started: at(0), Stopped: at(tt.stopped)}
			if diff := cmp.Diff(tt.want, r.MaxGap()); diff != "" {
				t.Errorf("MaxGap (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriterReportMaxGapAfter(t *testing.T) {
	// A long gap before the fault must not count; the outage after it must.
	r := WriterReport{Started: at(0), Stopped: at(10000), Acks: []Ack{
		{ID: 1, Acked: at(20)}, {ID: 2, Acked: at(5020)}, {ID: 3, Acked: at(6000)}, {ID: 4, Acked: at(8000)}, {ID: 5, Acked: at(9990)},
	}}
	got := r.MaxGapAfter(at(5500))
	want := Gap{From: at(6000), To: at(8000), After: 3, Before: 4}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MaxGapAfter (-want +got):\n%s", diff)
	}
}

func TestProbeReportIntervalsAndOverlaps(t *testing.T) {
	s := func(start, end int, w bool) Sample { return Sample{Start: at(start), End: at(end), Writable: w} }
	r := ProbeReport{Samples: map[string][]Sample{
		// n1 was primary until ~100 ms, then fenced.
		"n1": {s(0, 5, true), s(20, 25, true), s(100, 105, true), s(120, 125, false), s(140, 145, false)},
		// n2 promoted at ~130 ms: no overlap.
		"n2": {s(0, 5, false), s(130, 135, true), s(150, 155, true)},
		// n3 wrongly writable at 22-24 ms: overlaps n1.
		"n3": {s(22, 24, true), s(40, 45, false)},
	}}
	wantN1 := []Interval{{Host: "n1", From: at(0), To: at(105)}}
	if diff := cmp.Diff(wantN1, r.Intervals("n1")); diff != "" {
		t.Errorf("Intervals(n1) (-want +got):\n%s", diff)
	}
	wantOv := []Overlap{{A: "n1", B: "n3", From: at(22), To: at(24)}}
	if diff := cmp.Diff(wantOv, r.Overlaps()); diff != "" {
		t.Errorf("Overlaps (-want +got):\n%s", diff)
	}
	if got := r.OverlapsAfter(at(130)); len(got) != 0 {
		t.Errorf("OverlapsAfter(130 ms) = %v, want none", got)
	}
	if first, ok := r.FirstWritable("n2", at(100)); !ok || !first.Equal(at(130)) {
		t.Errorf("FirstWritable(n2, 100 ms) = %v, %v; want 130 ms", first, ok)
	}
	if last, ok := r.LastWritable("n1"); !ok || !last.Equal(at(105)) {
		t.Errorf("LastWritable(n1) = %v, %v; want 105 ms", last, ok)
	}
	if _, ok := r.LastWritable("nobody"); ok {
		t.Error("LastWritable of an unknown host reported a time")
	}
}

func TestWriterReportMaxGapAfterNamesTheLastAckBeforeTheFault(t *testing.T) {
	r := WriterReport{Started: at(0), Stopped: at(3000), Acks: []Ack{{ID: 7, Acked: at(100)}, {ID: 8, Acked: at(2100)}, {ID: 9, Acked: at(2120)}}}
	want := Gap{From: at(100), To: at(2100), After: 7, Before: 8}
	if diff := cmp.Diff(want, r.MaxGapAfter(at(500))); diff != "" {
		t.Errorf("MaxGapAfter (-want +got):\n%s", diff)
	}
	if got := r.MaxGapAfter(at(2500)); got.After != 9 || got.Before != 0 || !got.To.Equal(at(3000)) {
		t.Errorf("MaxGapAfter past the last ack = %+v; want the open gap after id 9", got)
	}
}
