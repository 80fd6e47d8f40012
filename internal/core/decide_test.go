package core

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openefm/efm/internal/notify/subject"
)

func sb(id string, recv, replay LSN) StandbyInfo {
	return StandbyInfo{ID: NodeID(id), Role: RoleStandby, Answered: true, DBReachable: true, InRecovery: true,
		Promotable: true, ReceivedLSN: recv, ReplayLSN: replay, Timeline: 1}
}

func testParams() Params {
	p := DefaultParams("10.0.0.9")
	p.ClusterName = "c"
	return p
}

// TestDecide: the "may we fail over, and whom do we promote" rule, one case
// per scenario of efm-reference §5.
func TestDecide(t *testing.T) {
	noAuto := testParams()
	noAuto.AutoFailover = false
	minOne := testParams()
	minOne.MinimumStandbys = 1
	idle := sb("10.0.0.3", 900, 900)
	idle.Role = RoleIdle
	writable := sb("10.0.0.3", 0, 0)
	writable.InRecovery = false
	notPromotable := sb("10.0.0.2", 500, 500)
	notPromotable.Promotable = false
	tests := []struct {
		name string
		p    Params
		s    Situation
		want Decision
	}{
		{
			name: "primary DB down, standby can still reach it: no failover",
			s: Situation{Cluster: "c", Trigger: TriggerPrimaryDBFailed, Primary: "10.0.0.1", ReachedBy: []NodeID{"10.0.0.2"},
				Voters: 3, Connected: 3, Standbys: []StandbyInfo{sb("10.0.0.2", 100, 100)}},
			want: Decision{Notify: []Notify{{Subject: subject.PrimaryDBStillRunning, Cluster: "c",
				Text: "The primary database on 10.0.0.1 was reported failed, but [10.0.0.2] can still connect to it. Failover has not occurred."}}},
		},
		{
			name: "primary DB down, nobody reaches it: the most up-to-date standby is promoted",
			s: Situation{Cluster: "c", Trigger: TriggerPrimaryDBFailed, Primary: "10.0.0.1", Voters: 4, Connected: 4,
				Standbys: []StandbyInfo{sb("10.0.0.2", 100, 100), sb("10.0.0.3", 200, 150)}},
			want: Decision{Candidate: "10.0.0.3", Verdicts: []Verdict{
				{ID: "10.0.0.2", Eligible: true, Why: "eligible: timeline 1 received 0/64 replayed 0/64 priority 1, but 10.0.0.3 is ahead"},
				{ID: "10.0.0.3", Eligible: true, Why: "chosen, eligible: timeline 1 received 0/C8 replayed 0/96 priority 1"},
			}},
		},
		{
			name: "primary agent lost, its database still reachable: no failover",
			s: Situation{Cluster: "c", Trigger: TriggerPrimaryLost, Primary: "10.0.0.1", ReachedBy: []NodeID{"10.0.0.2", "10.0.0.3"},
				Voters: 3, Connected: 2, Standbys: []StandbyInfo{sb("10.0.0.2", 100, 100)}},
			want: Decision{Notify: []Notify{{Subject: subject.PrimaryDBStillRunning, Cluster: "c",
				Text: "The primary agent on 10.0.0.1 is gone, but its database is reachable from [10.0.0.2 10.0.0.3]. Failover has not occurred."}}},
		},
		{
			name: "primary node lost with a majority connected: failover",
			s: Situation{Cluster: "c", Trigger: TriggerPrimaryLost, Primary: "10.0.0.1", Voters: 3, Connected: 2,
				Standbys: []StandbyInfo{sb("10.0.0.2", 100, 100)}},
			want: Decision{Candidate: "10.0.0.2", Verdicts: []Verdict{{ID: "10.0.0.2", Eligible: true, Why: "chosen, eligible: timeline 1 received 0/64 replayed 0/64 priority 1"}}},
		},
		{
			name: "primary agent stopped cleanly with primary.shutdown.as.failure, database unreachable: failover",
			s: Situation{Cluster: "c", Trigger: TriggerPrimaryLeft, Primary: "10.0.0.1", Voters: 3, Connected: 3,
				Standbys: []StandbyInfo{sb("10.0.0.2", 100, 100)}},
			want: Decision{Candidate: "10.0.0.2", Verdicts: []Verdict{{ID: "10.0.0.2", Eligible: true, Why: "chosen, eligible: timeline 1 received 0/64 replayed 0/64 priority 1"}}},
		},
		{
			name: "minority isolation: the minority side never promotes",
			s: Situation{Cluster: "c", Trigger: TriggerPrimaryLost, Primary: "10.0.0.1", Voters: 5, Connected: 2,
				Standbys: []StandbyInfo{sb("10.0.0.2", 100, 100)}},
			want: Decision{Notify: []Notify{{Subject: subject.SubsetDisconnectedFromPrimary, Cluster: "c",
				Text: "Only 2 of 5 voting members are connected: no promotion without a majority."}}},
		},
		{
			name: "even split: the side without the primary cannot promote",
			s: Situation{Cluster: "c", Trigger: TriggerPrimaryLost, Primary: "10.0.0.1", Voters: 4, Connected: 2,
				Standbys: []StandbyInfo{sb("10.0.0.3", 100, 100)}},
			want: Decision{Notify: []Notify{{Subject: subject.SubsetDisconnectedFromPrimary, Cluster: "c",
				Text: "Only 2 of 4 voting members are connected: no promotion without a majority."}}},
		},
		{
			name: "no promotable standby: Failover has not occurred",
			s: Situation{Cluster: "c", Trigger: TriggerPrimaryLost, Primary: "10.0.0.1", Voters: 3, Connected: 2,
				Standbys: []StandbyInfo{notPromotable}},
			want: Decision{
				Notify: []Notify{{Subject: subject.FailoverNotOccurred, Cluster: "c",
					Text: "No promotable standby for cluster c (priority list empty or no standby eligible)."}},
				Verdicts: []Verdict{{ID: "10.0.0.2", Why: "not promotable (promotable=false or priority 0)"}},
			},
		},
		{
			name: "minimum.standbys=1 with a single standby: no failover",
			p:    minOne,
			s: Situation{Cluster: "c", Trigger: TriggerPrimaryLost, Primary: "10.0.0.1", Voters: 3, Connected: 2,
				Standbys: []StandbyInfo{sb("10.0.0.2", 100, 100)}},
			want: Decision{
				Notify: []Notify{{Subject: subject.FailoverNotOccurred, Cluster: "c",
					Text: "No standbys available for promotion (at minimum.standbys): promoting 10.0.0.2 would leave 0 standbys, minimum.standbys=1."}},
				Verdicts: []Verdict{{ID: "10.0.0.2", Eligible: true, Why: "chosen, eligible: timeline 1 received 0/64 replayed 0/64 priority 1"}},
			},
		},
		{
			name: "auto.failover=false: potential manual failover required, never promote",
			p:    noAuto,
			s: Situation{Cluster: "c", Trigger: TriggerPrimaryLost, Primary: "10.0.0.1", Voters: 3, Connected: 2,
				Standbys: []StandbyInfo{sb("10.0.0.2", 100, 100)}},
			want: Decision{Notify: []Notify{{Subject: subject.ManualFailoverRequired, Cluster: "c",
				Text: "The primary 10.0.0.1 has failed (primary agent lost) and auto.failover=false: run efm promote c to fail over."}}},
		},
		{
			name: "efm promote ignores auto.failover",
			p:    noAuto,
			s: Situation{Cluster: "c", Trigger: TriggerManual, Primary: "10.0.0.1", Voters: 3, Connected: 2,
				Standbys: []StandbyInfo{sb("10.0.0.2", 100, 100)}},
			want: Decision{Candidate: "10.0.0.2", Verdicts: []Verdict{{ID: "10.0.0.2", Eligible: true, Why: "chosen, eligible: timeline 1 received 0/64 replayed 0/64 priority 1"}}},
		},
		{
			name: "switchover: minimum.standbys does not apply",
			p:    minOne,
			s: Situation{Cluster: "c", Trigger: TriggerSwitchover, Primary: "10.0.0.1", Voters: 3, Connected: 3,
				Standbys: []StandbyInfo{sb("10.0.0.2", 100, 100)}},
			want: Decision{Candidate: "10.0.0.2", Verdicts: []Verdict{{ID: "10.0.0.2", Eligible: true, Why: "chosen, eligible: timeline 1 received 0/64 replayed 0/64 priority 1"}}},
		},
		{
			name: "a database that answers writable is a running primary: no failover",
			s: Situation{Cluster: "c", Trigger: TriggerPrimaryLost, Primary: "10.0.0.1", Voters: 3, Connected: 3,
				Standbys: []StandbyInfo{sb("10.0.0.2", 100, 100), writable}},
			want: Decision{Notify: []Notify{{Subject: subject.PrimaryDBStillRunning, Cluster: "c",
				Text: "The database on 10.0.0.3 accepts writes. Failover has not occurred."}}},
		},
		{
			name: "standby DB down or Idle standby: not a candidate",
			s: Situation{Cluster: "c", Trigger: TriggerPrimaryLost, Primary: "10.0.0.1", Voters: 4, Connected: 3,
				Standbys: []StandbyInfo{sb("10.0.0.2", 100, 100), idle}},
			want: Decision{Candidate: "10.0.0.2", Verdicts: []Verdict{
				{ID: "10.0.0.2", Eligible: true, Why: "chosen, eligible: timeline 1 received 0/64 replayed 0/64 priority 1"},
				{ID: "10.0.0.3", Why: "agent is Idle"},
			}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			if p.Self == "" {
				p = testParams()
			}
			got := Decide(tc.s, p)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Decide() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestChooseStandby: efm-reference §6 candidate order.
func TestChooseStandby(t *testing.T) {
	older := sb("10.0.0.4", 900, 900)
	older.Timeline = 0
	unanswered := sb("10.0.0.5", 999, 999)
	unanswered.Answered = false
	tests := []struct {
		name      string
		standbys  []StandbyInfo
		priority  []NodeID
		useReplay bool
		want      NodeID
	}{
		{"highest received LSN wins, compared numerically (0/A < 0/10)", []StandbyInfo{sb("10.0.0.2", 0xA, 0xA), sb("10.0.0.3", 0x10, 0x1)}, nil, true, "10.0.0.3"},
		{"equal received: replay LSN breaks the tie with use.replay.tiebreaker", []StandbyInfo{sb("10.0.0.2", 100, 50), sb("10.0.0.3", 100, 90)}, []NodeID{"10.0.0.2"}, true, "10.0.0.3"},
		{"equal received, no replay tiebreaker: the priority list decides", []StandbyInfo{sb("10.0.0.2", 100, 50), sb("10.0.0.3", 100, 90)}, []NodeID{"10.0.0.2"}, false, "10.0.0.2"},
		{"full tie, no priority: smallest id, deterministically", []StandbyInfo{sb("10.0.0.3", 100, 100), sb("10.0.0.2", 100, 100)}, nil, true, "10.0.0.2"},
		{"a newer timeline beats a higher LSN on an older one", []StandbyInfo{sb("10.0.0.2", 100, 100), older}, nil, true, "10.0.0.2"},
		{"a standby that did not answer is never chosen", []StandbyInfo{sb("10.0.0.2", 100, 100), unanswered}, nil, true, "10.0.0.2"},
		{"nobody eligible", []StandbyInfo{unanswered}, nil, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, verdicts := ChooseStandby(tc.standbys, tc.priority, tc.useReplay)
			if got != tc.want {
				t.Errorf("ChooseStandby() = %q, want %q; verdicts %+v", got, tc.want, verdicts)
			}
			if len(verdicts) != len(tc.standbys) {
				t.Errorf("got %d verdicts for %d standbys", len(verdicts), len(tc.standbys))
			}
		})
	}
}

func TestDecideAnotherPromotionInProgress(t *testing.T) {
	promoting := sb("10.0.0.3", 100, 100)
	promoting.Role = RolePromoting
	got := Decide(Situation{Cluster: "c", Trigger: TriggerPrimaryLost, Primary: "10.0.0.1", Voters: 5, Connected: 4,
		Standbys: []StandbyInfo{sb("10.0.0.2", 90, 90), promoting}}, testParams())
	want := Decision{Notify: []Notify{{Subject: subject.PromotionInProgress, Cluster: "c",
		Text: "10.0.0.3 reports itself Promoting."}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decide() mismatch (-want +got):\n%s", diff)
	}
}
