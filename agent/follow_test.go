package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/pg"
)

// fakeFollowDB records how the local database was re-pointed; the other
// localDB methods are not used by follow.
type fakeFollowDB struct {
	localDB
	followed string       // Follow: own settings
	with     replSettings // FollowWith: copied settings
	withPrim string
	// diverged answers DivergedFrom (divergedAfter: only once a follow
	// was tried); divergedErr makes it fail.
	diverged, divergedAfter bool
	divergedErr             error
	followErr               error
}

func (f *fakeFollowDB) DivergedFrom(context.Context, string) (bool, string, error) {
	if f.divergedErr != nil {
		return false, "", f.divergedErr
	}
	if f.divergedAfter && f.followed == "" {
		return false, "at the fork point", nil
	}
	return f.diverged || f.divergedAfter, "WAL past the fork point", nil
}

func (f *fakeFollowDB) Follow(_ context.Context, primary string) error {
	f.followed = primary
	return f.followErr
}

func (f *fakeFollowDB) FollowWith(_ context.Context, primary string, src replSettings) error {
	f.withPrim, f.with = primary, src
	return nil
}

// fakeSources answers ReplicationSettings from a table: a missing host
// cannot be reached.
type fakeSources struct {
	remoteDBs
	settings map[string]replSettings
	asked    []string
}

func (f *fakeSources) ReplicationSettings(_ context.Context, host string) (replSettings, error) {
	f.asked = append(f.asked, host)
	rs, ok := f.settings[host]
	if !ok {
		return replSettings{}, errors.New("connection refused")
	}
	return rs, nil
}

func TestFollowCopiesSettingsForTheOldPrimary(t *testing.T) {
	good := replSettings{PrimaryConninfo: "host=10.0.0.1 user=replicator passfile=/pgpass"}
	tests := []struct {
		name      string
		sources   []core.NodeID
		settings  map[string]replSettings
		wantAsked []string
		wantOwn   bool   // Follow with its own settings
		wantFrom  string // "" = FollowWith not called
		wantErr   []string
	}{
		{name: "a re-pointed standby keeps its own settings", wantOwn: true},
		{name: "first source answers", sources: []core.NodeID{"10.0.0.2", "10.0.0.3"},
			settings:  map[string]replSettings{"10.0.0.2": good, "10.0.0.3": {PrimaryConninfo: "host=other"}},
			wantAsked: []string{"10.0.0.2"}, wantFrom: good.PrimaryConninfo},
		{name: "an unreachable source and an empty one are skipped", sources: []core.NodeID{"10.0.0.2", "10.0.0.3", "10.0.0.4"},
			settings:  map[string]replSettings{"10.0.0.3": {}, "10.0.0.4": good},
			wantAsked: []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"}, wantFrom: good.PrimaryConninfo},
		{name: "no source answers: an error naming each and why", sources: []core.NodeID{"10.0.0.3", "10.0.0.4"},
			settings:  map[string]replSettings{"10.0.0.4": {}},
			wantAsked: []string{"10.0.0.3", "10.0.0.4"},
			wantErr:   []string{"10.0.0.3: connection refused", "10.0.0.4: its primary_conninfo is empty", "pg_read_all_settings"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, rem := &fakeFollowDB{}, &fakeSources{settings: tt.settings}
			s := &shell{log: slog.New(slog.DiscardHandler), db: db, remote: rem}
			err := s.follow(context.Background(), core.FollowPrimary{Primary: "10.0.0.2", Sources: tt.sources})
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(rem.asked, ","); got != strings.Join(tt.wantAsked, ",") {
				t.Errorf("asked %s for settings, want %s", got, strings.Join(tt.wantAsked, ","))
			}
			if (db.followed == "10.0.0.2") != tt.wantOwn {
				t.Errorf("Follow with own settings called: %v, want %v", db.followed != "", tt.wantOwn)
			}
			if db.with.PrimaryConninfo != tt.wantFrom || tt.wantFrom != "" && db.withPrim != "10.0.0.2" {
				t.Errorf("FollowWith(%q, %q), want (10.0.0.2, %q)", db.withPrim, db.with.PrimaryConninfo, tt.wantFrom)
			}
		})
	}
}

// TestFollowReportsDivergence: a database with WAL past the primary's fork
// point is reported Diverged without being touched; one found so only
// after a failed follow (its startup process replayed further meanwhile)
// too; a check that cannot tell leaves the follow to go on.
func TestFollowReportsDivergence(t *testing.T) {
	tests := []struct {
		name         string
		db           fakeFollowDB
		wantDiverged bool
		wantFollowed bool
		wantOK       bool
	}{
		{name: "diverged before: not re-pointed", db: fakeFollowDB{diverged: true}, wantDiverged: true},
		{name: "diverged found after a failed follow", db: fakeFollowDB{divergedAfter: true, followErr: errors.New("not streaming within 1m")},
			wantDiverged: true, wantFollowed: true},
		{name: "check in doubt: the follow goes on", db: fakeFollowDB{divergedErr: errors.New("primary unreachable")}, wantFollowed: true, wantOK: true},
		{name: "not diverged", wantFollowed: true, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := tt.db
			s := &shell{log: slog.New(slog.DiscardHandler), db: &db, remote: &fakeSources{}}
			err := s.follow(context.Background(), core.FollowPrimary{Primary: "10.0.0.2"})
			var div *divergedError
			if errors.As(err, &div) != tt.wantDiverged || (err == nil) != tt.wantOK {
				t.Errorf("follow: %v, want diverged %v ok %v", err, tt.wantDiverged, tt.wantOK)
			}
			if (db.followed != "") != tt.wantFollowed {
				t.Errorf("re-pointed: %v, want %v", db.followed != "", tt.wantFollowed)
			}
		})
	}
}

// Chaos seed 9136: the cluster's first primary, started in recovery behind
// its fence, lost its resume and was told to follow the new primary. Its
// primary_conninfo is empty: re-pointed, it would carry a host and no
// credentials and never stream with scram-sha-256. It copies the settings
// of a live standby instead, the primary last.
func TestFollowWithoutOwnConninfoCopiesAStandbys(t *testing.T) {
	good := replSettings{PrimaryConninfo: "host=10.0.0.2 user=replicator passfile=/pgpass"}
	db := &fakeFollowDB{followErr: fmt.Errorf("point standby: %w", pg.ErrNoPrimaryConninfo)}
	rem := &fakeSources{settings: map[string]replSettings{"10.0.0.4": good}}
	s := &shell{log: slog.New(slog.DiscardHandler), db: db, remote: rem, self: "10.0.0.1"}
	s.view = core.ClusterView{Members: []core.MemberStatus{
		{Member: core.Member{ID: "10.0.0.1", Kind: core.KindDatabase, State: core.MemberAlive}, Status: core.NodeStatus{Role: core.RoleStandby}},
		{Member: core.Member{ID: "10.0.0.2", Kind: core.KindDatabase, State: core.MemberAlive}, Status: core.NodeStatus{Role: core.RolePrimary}},
		{Member: core.Member{ID: "10.0.0.3", Kind: core.KindDatabase, State: core.MemberDown}, Status: core.NodeStatus{Role: core.RoleStandby}},
		{Member: core.Member{ID: "10.0.0.4", Kind: core.KindDatabase, State: core.MemberAlive}, Status: core.NodeStatus{Role: core.RoleStandby}},
		{Member: core.Member{ID: "10.0.0.5", Kind: core.KindWitness, State: core.MemberAlive}, Status: core.NodeStatus{Role: core.RoleWitness}},
	}}
	if err := s.follow(context.Background(), core.FollowPrimary{Primary: "10.0.0.2"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rem.asked, ","); got != "10.0.0.4" {
		t.Errorf("asked %s for settings, want the live standby 10.0.0.4 first", got)
	}
	if db.withPrim != "10.0.0.2" || db.with.PrimaryConninfo != good.PrimaryConninfo {
		t.Errorf("FollowWith(%q, %q), want (10.0.0.2, %q)", db.withPrim, db.with.PrimaryConninfo, good.PrimaryConninfo)
	}
	if got := settingsSources(s.view, s.self, "10.0.0.2"); fmt.Sprint(got) != "[10.0.0.4 10.0.0.2]" {
		t.Errorf("sources %v, want the live standby, then the primary", got)
	}
}
