package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openefm/efm/internal/admin"
)

// pgBin is where the tests expect PostgreSQL 15's programs (the integration
// host setup installs them there).
const pgBin = "/usr/lib/postgresql/15/bin"

// databaseConfig is witnessConfig for a database agent whose database does
// not run: the agent starts and stays Idle, which is enough for the
// commands that only change cluster state.
func databaseConfig(t *testing.T, extra string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pgBin, "pg_ctl")); err != nil {
		t.Skipf("no PostgreSQL 15 in %s: %v", pgBin, err)
	}
	dir := witnessConfig(t, extra)
	path := filepath.Join(dir, "efm.properties")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	props := strings.Replace(string(b), "is.witness=true\n",
		"db.bin="+pgBin+"\ndb.data.dir="+filepath.Join(dir, "data")+"\ndb.service.owner=postgres\ndb.port=1\n", 1)
	props = strings.Replace(props, "db.port=5432\n", "", 1)
	if err := os.WriteFile(path, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSetPriorityThroughTheCLI: efm set-priority reaches the coordinator
// through any agent; a database agent is accepted, the witness and a
// stranger are refused (exit 1) with an error naming them.
func TestSetPriorityThroughTheCLI(t *testing.T) {
	db := databaseConfig(t, "")
	wit := witnessConfig(t, "")
	dbIP, witIP := bindIP(t, db), bindIP(t, wit)
	os.WriteFile(filepath.Join(wit, "efm.nodes"), []byte(dbIP+":7800\n"), 0o644)
	os.WriteFile(filepath.Join(db, "efm.nodes"), []byte(witIP+":7800\n"), 0o644)
	witnessAgent(t, db)
	witnessAgent(t, wit)
	poll(t, 30*time.Second, "both agents see both members", func() bool {
		a, err1 := clusterStatus(t, db)
		b, err2 := clusterStatus(t, wit)
		return err1 == nil && err2 == nil && len(a.Nodes) == 2 && len(b.Nodes) == 2
	})
	stranger := loopbackIP()
	tests := []struct {
		args     []string
		code     int
		want     string
		wantOut  string
		fromDir  string
		scenario string
	}{
		{[]string{dbIP, "1"}, 0, "", "Set priority command successful", wit, "the database agent, through the witness"},
		{[]string{dbIP, "0"}, 0, "", "Set priority command successful", db, "never promote, on itself"},
		{[]string{witIP, "1"}, 1, witIP + ": a witness agent has no database to promote", "", db, "the witness"},
		{[]string{stranger, "1"}, 1, stranger + ": not a member of cluster efm (its database agents: " + dbIP + ")", "", wit, "a stranger"},
	}
	for _, tc := range tests {
		out, errOut, code := efm(t, append([]string{"set-priority", "efm"}, append(tc.args, "-config-dir", tc.fromDir)...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || !strings.Contains(out, tc.wantOut) {
			t.Errorf("%s: efm set-priority efm %s: exit %d, stdout %q, stderr %q; want exit %d, %q %q",
				tc.scenario, strings.Join(tc.args, " "), code, out, errOut, tc.code, tc.wantOut, tc.want)
		}
	}
}

// TestAgentErrorsPrefixedOnce: an error the agent's membership layer
// returns names the command and the address once ("disallow-node X:
// disallow-node X: ..." before), and the command exits 1.
func TestAgentErrorsPrefixedOnce(t *testing.T) {
	dir := witnessConfig(t, "")
	ip := bindIP(t, dir)
	witnessAgent(t, dir)
	poll(t, 10*time.Second, "the agent answers", func() bool {
		s, err := clusterStatus(t, dir)
		return err == nil && len(s.Nodes) == 1
	})
	_, errOut, code := efm(t, "disallow-node", "efm", ip, "-config-dir", dir)
	if code != 1 || strings.Count(errOut, "disallow-node "+ip+":") != 1 || !strings.Contains(errOut, "cannot disallow itself") ||
		doublePrefix.MatchString(errOut) {
		t.Errorf("disallow-node of the agent itself: exit %d, stderr %q; want exit 1 and the error prefixed once", code, errOut)
	}
}

// TestSetPriorityRequest: an IP and a whole number of 0 or more become the
// typed request (the refusals are in TestUsageErrors).
func TestSetPriorityRequest(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want admin.SetPriorityRequest
	}{
		{[]string{"10.0.0.2", "1"}, admin.SetPriorityRequest{Node: netip.MustParseAddr("10.0.0.2"), Priority: 1}},
		{[]string{"10.0.0.2", "0"}, admin.SetPriorityRequest{Node: netip.MustParseAddr("10.0.0.2"), Priority: 0}},
		{[]string{"[fd00::2]", "12"}, admin.SetPriorityRequest{Node: netip.MustParseAddr("fd00::2"), Priority: 12}},
	} {
		if got := requestOf(t, append([]string{"set-priority", "c"}, tc.args...)...); got != tc.want {
			t.Errorf("efm set-priority c %s sends %#v, want %#v", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}
