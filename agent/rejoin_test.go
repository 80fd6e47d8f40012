package agent

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/internal/core"
)

// fakeRejoinDB records the plan of a rejoin and answers with rep/err.
type fakeRejoinDB struct {
	localDB
	plan  *rejoinPlan
	rep   rejoinReport
	err   error
	calls int
}

func (f *fakeRejoinDB) Rejoin(_ context.Context, p rejoinPlan) (rejoinReport, error) {
	f.calls++
	f.plan = &p
	return f.rep, f.err
}

// TestRejoinCarriesOutTheCoresDecision: the shell copies replication
// settings (the new primary's own first, then the standbys in address
// order), hands the knobs through, and reports the method, reason and
// duration back; a failure is reported with its reason, and no settings
// means no rebuild at all.
func TestRejoinCarriesOutTheCoresDecision(t *testing.T) {
	good := replSettings{PrimaryConninfo: "host=10.0.0.1 user=replicator passfile=/pgpass"}
	view := core.ClusterView{Members: []core.MemberStatus{
		{Member: core.Member{ID: "10.0.0.4", Kind: core.KindDatabase, State: core.MemberAlive}, Status: core.NodeStatus{Role: core.RoleStandby}},
		{Member: core.Member{ID: "10.0.0.3", Kind: core.KindDatabase, State: core.MemberAlive}, Status: core.NodeStatus{Role: core.RoleStandby}},
		{Member: core.Member{ID: "10.0.0.5", Kind: core.KindWitness, State: core.MemberAlive}},
	}}
	tests := []struct {
		name      string
		settings  map[string]replSettings
		rep       rejoinReport
		err       error
		wantAsked []string
		wantOK    bool
		wantCalls int
		wantText  string
	}{
		{name: "settings from the new primary", settings: map[string]replSettings{"10.0.0.2": good},
			rep:       rejoinReport{Method: "rewound", Reason: "diverged at 0/3000060", Took: 3 * time.Second},
			wantAsked: []string{"10.0.0.2"}, wantOK: true, wantCalls: 1, wantText: "diverged"},
		{name: "settings from the first standby that has them", settings: map[string]replSettings{"10.0.0.4": good},
			rep:       rejoinReport{Method: "base backup", Reason: "pg_rewind failed", BaseBackup: true},
			wantAsked: []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"}, wantOK: true, wantCalls: 1},
		{name: "the rebuild fails", settings: map[string]replSettings{"10.0.0.2": good},
			rep: rejoinReport{Method: "refused", Reason: "pg_rewind failed and auto.basebackup is false"}, err: errors.New("rejoin: refused"),
			wantAsked: []string{"10.0.0.2"}, wantCalls: 1, wantText: "auto.basebackup is false"},
		{name: "no settings anywhere: not touched", settings: map[string]replSettings{},
			wantAsked: []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"}, wantText: "pg_read_all_settings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, rem := &fakeRejoinDB{rep: tt.rep, err: tt.err}, &fakeSources{settings: tt.settings}
			s := &shell{log: slog.New(slog.DiscardHandler), db: db, remote: rem, self: "10.0.0.1", view: view}
			r := s.rejoin(context.Background(), core.RejoinDB{Seq: 5, Primary: "10.0.0.2", Epoch: 3, Rewind: true, BaseBackup: true})
			if strings.Join(rem.asked, ",") != strings.Join(tt.wantAsked, ",") {
				t.Errorf("asked %v, want %v", rem.asked, tt.wantAsked)
			}
			if r.Seq != 5 || r.OK != tt.wantOK || db.calls != tt.wantCalls {
				t.Fatalf("result %+v after %d rejoins, want OK=%v after %d", r, db.calls, tt.wantOK, tt.wantCalls)
			}
			if db.plan != nil && (db.plan.Primary != "10.0.0.2" || !db.plan.Rewind || !db.plan.BaseBackup || db.plan.Settings != good) {
				t.Errorf("plan %+v", *db.plan)
			}
			if tt.wantOK && (r.Method != tt.rep.Method || r.BaseBackup != tt.rep.BaseBackup) {
				t.Errorf("result %+v does not carry the report %+v", r, tt.rep)
			}
			if !strings.Contains(r.Reason+r.Err, tt.wantText) {
				t.Errorf("result %+v does not say %q", r, tt.wantText)
			}
		})
	}
}
