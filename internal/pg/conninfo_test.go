package pg

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConninfoRoundTrip(t *testing.T) {
	tests := []struct {
		name, in, host string
		port           int
		want           string
	}{
		{"basebackup -R output",
			"user=postgres passfile='/var/lib/postgresql/.pgpass' channel_binding=prefer host=127.0.0.1 port=55401 sslmode=prefer application_name=b",
			"10.0.0.2", 0,
			"user=postgres passfile=/var/lib/postgresql/.pgpass channel_binding=prefer host=10.0.0.2 port=55401 sslmode=prefer application_name=b"},
		{"spaces around = and quoted values", `host = old  user = 'rep user' password='it\'s'`, "new", 5433,
			`host=new user='rep user' password='it\'s' port=5433`},
		{"backslash escapes", `host=old password='a\'b\\c'`, "new", 0, `host=new password='a\'b\\c'`},
		{"hostaddr dropped", "hostaddr=10.0.0.1 host=db1 port=5432", "db2", 0, "host=db2 port=5432"},
		{"no host yet", "user=x", "h", 0, "user=x host=h"},
		{"empty", "", "h", 7, "host=h port=7"},
		{"uri", "postgresql://rep:pw@old:5432/postgres?application_name=s1", "new", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ci, err := ParseConninfo(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got := ci.WithHost(tt.host, tt.port)
			if tt.want != "" && got.String() != tt.want {
				t.Errorf("got  %s\nwant %s", got.String(), tt.want)
			}
			// Whatever we print must parse back to the same pairs.
			again, err := ParseConninfo(got.String())
			if err != nil {
				t.Fatalf("reparse %q: %v", got.String(), err)
			}
			if again.String() != got.String() {
				t.Errorf("reparse changed it: %q -> %q", got.String(), again.String())
			}
			if h, _ := again.Get("host"); h != tt.host {
				t.Errorf("host = %q, want %q", h, tt.host)
			}
			if _, ok := again.Get("hostaddr"); ok {
				t.Error("hostaddr survived")
			}
		})
	}
}

func TestConninfoURI(t *testing.T) {
	ci, err := ParseConninfo("postgresql://rep:pw@old:5432/postgres?application_name=s1")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"host": "old", "port": "5432", "user": "rep", "password": "pw", "dbname": "postgres", "application_name": "s1"} {
		if got, _ := ci.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func TestConninfoErrors(t *testing.T) {
	for _, in := range []string{"host", "host=old user='x", "=x", "password='it''s'"} {
		if _, err := ParseConninfo(in); err == nil {
			t.Errorf("ParseConninfo(%q) succeeded", in)
		}
	}
}

func TestFollowSettings(t *testing.T) {
	src := ReplicationSettings{PrimaryConninfo: "user=rep host=old port=5432 application_name=standby1 sslmode=require", RestoreCommand: "cp /a/%f %p", PrimarySlotName: "efm_10_0_0_9"}
	tests := []struct {
		name, app, restore string
		want               map[string]string
	}{
		{"application_name removed, restore kept", "", "",
			map[string]string{"primary_conninfo": "user=rep host=new port=5432 sslmode=require", "restore_command": "cp /a/%f %p", "primary_slot_name": ""}},
		{"application.name and restore.command set", "oldprimary", "scp new:/a/%f %p",
			map[string]string{"primary_conninfo": "user=rep host=new port=5432 application_name=oldprimary sslmode=require", "restore_command": "scp new:/a/%f %p", "primary_slot_name": ""}},
	}
	// What a scram deployment's standby has (pg_basebackup -R with a
	// passfile): user, passfile and sslmode travel; hostaddr, which would
	// override host, is dropped; the source's own slot is not this node's,
	// so the follower streams through none unless its caller names one.
	scram := ReplicationSettings{PrimaryConninfo: "user=replicator passfile='/var/lib/postgresql/.pgpass' channel_binding=prefer host=old hostaddr=10.0.0.1 port=5432 sslmode=prefer application_name=n2"}
	got, err := followSettings(scram, "10.0.0.2", 5433, "n1", "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"primary_conninfo": "user=replicator passfile=/var/lib/postgresql/.pgpass channel_binding=prefer host=10.0.0.2 port=5433 sslmode=prefer application_name=n1", "primary_slot_name": ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("scram source (-want +got)\n%s", diff)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := followSettings(src, "new", 0, tt.app, tt.restore)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
	if _, err := followSettings(ReplicationSettings{}, "new", 0, "", ""); err == nil {
		t.Error("empty source conninfo accepted")
	}
	// A source that cannot be parsed is reported without its password.
	for _, bad := range []string{"host=old password='s3cret", "password=s3cret host"} {
		_, err := followSettings(ReplicationSettings{PrimaryConninfo: bad}, "new", 0, "", "")
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("followSettings(%q): error %v, want one that does not show the password", bad, err)
		}
	}
}
