package config

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// minimal is the smallest valid database-node file.
const minimal = `db.user=efm
db.password.encrypted=0123456789abcdef0123456789abcdef
db.port=5432
db.database=postgres
db.service.owner=postgres
db.bin=/usr/lib/postgresql/15/bin
db.data.dir=/var/lib/postgresql/15/main
bind.address=10.0.0.5:7800
`

// minimalWitness is the smallest valid witness file.
const minimalWitness = `db.user=efm
db.password.encrypted=0123456789abcdef0123456789abcdef
db.port=5432
db.database=postgres
bind.address=10.0.0.9:7800
is.witness=true
`

// mentions reports whether some line of lines contains s as a whole
// key (followed by '=', ',', ':' or the end).
func mentions(lines []string, s string) bool {
	for _, l := range lines {
		for i := 0; ; {
			j := strings.Index(l[i:], s)
			if j < 0 {
				break
			}
			end := i + j + len(s)
			before := i+j == 0 || strings.ContainsRune(" ,", rune(l[i+j-1]))
			after := end == len(l) || strings.ContainsRune("=,:", rune(l[end]))
			if before && after {
				return true
			}
			i = end
		}
	}
	return false
}

// problemsOf returns the lines of err, failing the test when err is not
// an Errors.
func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %v (%T) is not a config.Errors", err, err)
	}
	lines := strings.Split(errs.Error(), "\n")
	if len(lines) != len(errs) {
		t.Fatalf("Errors has %d problems but %d lines:\n%v", len(errs), len(lines), errs)
	}
	return lines
}

func TestEFM5FullFixture(t *testing.T) {
	c, warnings, err := LoadFile("testdata/efm5-full.properties")
	if err != nil {
		t.Fatalf("fixture does not load:\n%v", err)
	}
	for _, w := range warnings {
		t.Log(w)
		if !strings.HasPrefix(w, "testdata/efm5-full.properties: ") {
			t.Errorf("warning does not start with the file: %q", w)
		}
	}
	if c.Cluster != "efm-full" && c.Cluster != "efm5-full" {
		t.Errorf("cluster %q, want the base name efm5-full", c.Cluster)
	}
	// Every no-effect and not-built key of the file is named, each once,
	// in exactly one warning per category.
	for _, k := range Keys() {
		if k.Status != NoEffect && k.Status != NotBuilt {
			continue
		}
		n := 0
		for _, w := range warnings {
			if mentions([]string{w}, k.Name) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s (%s) named in %d warnings, want 1", k.Name, k.Status, n)
		}
	}
	if len(warnings) != 3 {
		t.Errorf("%d warnings, want 3 (no effect, not built, jdbc.properties)", len(warnings))
	}
	if !mentions(warnings, "syslog.enabled=true") {
		t.Errorf("syslog.enabled=true, a feature asked for but not built, is not shown with its value: %q", warnings)
	}
	if !mentions(warnings, "sslfactory") {
		t.Errorf("the unused jdbc.properties sslfactory is not named: %q", warnings)
	}

	wd, _ := os.Getwd()
	checks := []struct {
		name      string
		got, want any
	}{
		{"Cluster", c.Cluster, "efm5-full"},
		{"DBPort", c.DBPort, 5444},
		{"JDBCSSLMode", c.JDBCSSLMode, "verify-full"},
		{"JDBCProperties", c.JDBCProperties["sslrootcert"], "/etc/efm/root.crt"},
		{"DBConfigDir defaults to data dir", c.DBConfigDir, "/var/lib/edb/as15/data"},
		{"UserEmail", c.UserEmail, []string{"dba-oncall@example.com", "ops@example.com"}},
		{"NotificationLevel", c.NotificationLevel, "WARNING"},
		{"NotificationTextPrefix", c.NotificationTextPrefix, "[PROD efm] Cluster efm, London DC\nRunbook: https://wiki.example.com/efm\n"},
		{"BindAddress", c.BindAddress, HostPort{Host: "10.20.30.12", Port: 7800}},
		{"DBHost defaults to bind IP", c.DBHost, "10.20.30.12"},
		{"AgentKeyFile default", c.AgentKeyFile, filepath.Join(wd, "testdata/efm5-full.key")},
		{"PingServerIP", c.PingServerIP, "10.20.30.1"},
		{"NodeTimeout", c.NodeTimeout, 50 * time.Second},
		{"RecoveryCheckPeriod", c.RecoveryCheckPeriod, time.Second},
		{"PriorityStandbys", c.PriorityStandbys, []string{"10.20.30.13", "10.20.30.14"}},
		{"AutoRewind", c.AutoRewind, true},
		{"VirtualIP", c.VirtualIP, "10.20.30.100"},
		{"VirtualIPInterface", c.VirtualIPInterface, "ens192"},
		{"VirtualIPPrefix", c.VirtualIPPrefix, 24},
		{"ScriptFence (continued line)", c.ScriptFence, "/usr/local/bin/efm-fence.sh %p %f"},
		{"LockDir", c.LockDir, "/run/lock/efm-5.1"},
		{"EFMLogLevel", c.EFMLogLevel, slog.LevelInfo},
		{"PCPPort unset", c.PCPPort, 0},
		{"NodesPath", c.NodesPath(), filepath.Join(wd, "testdata/efm5-full.nodes")},
	}
	for _, ch := range checks {
		if diff := cmp.Diff(ch.want, ch.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", ch.name, diff)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("loaded config does not re-validate:\n%v", err)
	}
}

func TestDefaults(t *testing.T) {
	c, warnings, err := Parse("efm", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("warnings: %q", warnings)
	wd, _ := os.Getwd()
	checks := []struct {
		name      string
		got, want any
	}{
		{"LockDir", c.LockDir, "/run/lock/efm"},
		{"PidDir", c.PidDir, "/run/efm"},
		{"LogDir", c.LogDir, "/var/log/efm"},
		{"PingServerIP has no default", c.PingServerIP, ""},
		{"PingServerCommand", c.PingServerCommand, "/bin/ping -q -c3 -w5"},
		{"LocalPeriod", c.LocalPeriod, 10 * time.Second},
		{"LocalTimeout", c.LocalTimeout, 60 * time.Second},
		{"NodeTimeout", c.NodeTimeout, 50 * time.Second},
		{"AutoFailover", c.AutoFailover, true},
		{"StopIsolatedPrimary", c.StopIsolatedPrimary, true},
		{"JDBCSSLMode", c.JDBCSSLMode, "disable"},
		{"NotificationLevel", c.NotificationLevel, "INFO"},
		{"FromEmail", c.FromEmail, "efm@localhost"},
		{"SudoUserCommand", c.SudoUserCommand, "sudo -u %u"},
		{"VirtualIPSingle", c.VirtualIPSingle, true},
		{"MetricsAddress off", c.MetricsAddress.IsZero(), true},
		{"AgentKeyFile", c.AgentKeyFile, filepath.Join(wd, "efm.key")},
		{"SocketPath", c.SocketPath(), "/run/efm/efm.sock"},
		{"LockPath", c.LockPath(), "/run/lock/efm/efm.lock"},
		{"IsSet explicit", c.IsSet("db.port"), true},
		{"IsSet default", c.IsSet("local.period"), false},
	}
	for _, ch := range checks {
		if diff := cmp.Diff(ch.want, ch.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", ch.name, diff)
		}
	}
	// Only the notification warning: no no-effect or not-built key was given.
	if len(warnings) != 1 || !strings.Contains(warnings[0], "user.email, script.notification") {
		t.Errorf("warnings = %q, want only the notification one", warnings)
	}
}

func TestThreeMistakesThreeLines(t *testing.T) {
	data := strings.Replace(minimal, "db.port=5432", "db.port=54x2", 1) +
		"vitrual.ip=10.0.0.100\n" +
		"stop.isolated.master=true\n"
	_, _, err := Parse("efm", []byte(data))
	lines := problemsOf(t, err)
	want := []string{
		`efm.properties: db.port: value "54x2" is not a port; accepted: 1 to 65535`,
		`efm.properties: stop.isolated.master: no longer accepted: renamed in EFM 4.0; use stop.isolated.primary`,
		`efm.properties: vitrual.ip: unknown property; did you mean virtual.ip?`,
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("error lines (-want +got):\n%s", diff)
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "prod.properties")
	if err := os.WriteFile(path, []byte(minimal+"local.period=0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load(dir, "prod")
	lines := problemsOf(t, err)
	if len(lines) != 1 || !strings.HasPrefix(lines[0], path+": local.period: ") {
		t.Errorf("lines = %q, want one starting with %s: local.period", lines, path)
	}
	if _, _, err := Load(dir, "missing"); err == nil || !strings.Contains(err.Error(), "missing.properties") {
		t.Errorf("missing file: err = %v, want it to name missing.properties", err)
	}
	if _, _, err := LoadFile(filepath.Join(dir, "prod.conf")); err == nil {
		t.Error("a file not named <cluster>.properties was accepted")
	}
	if _, _, err := Load(dir, "../etc"); err == nil {
		t.Error("cluster name with a slash was accepted")
	}
}

func TestValidateChangedConfig(t *testing.T) {
	c, _, err := Parse("efm", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	c.LocalPeriod = 1500 * time.Millisecond
	c.DBPort = 0
	c.PingServerIP = "127.0.0.1"
	c.JDBCSSLMode = "prefer"
	want := []string{
		`efm.properties: jdbc.sslmode: value "prefer" is not accepted; accepted: disable, require, verify-ca, verify-full`,
		`efm.properties: local.period: value "1.5s" is not a whole number; accepted: 1 to 2147483647 seconds`,
		"efm.properties: db.port: required on a database node (is.witness=false) but not set",
		`efm.properties: ping.server.ip: value "127.0.0.1" is a loopback address and cannot tell whether this node is isolated; accepted: an address outside the cluster that every node can reach`,
	}
	if diff := cmp.Diff(want, problemsOf(t, c.Validate())); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestValueAndNotAPropertiesFile(t *testing.T) {
	c, _, err := Parse("efm", []byte(minimal+"user.email=a@example.com b@example.com\n"))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"local.period": "10", "bind.address": "10.0.0.5:7800", "user.email": "a@example.com b@example.com",
		"efm.loglevel": "INFO", "ping.server.ip": "", "virtual.ip.prefix": "",
	} {
		if got, ok := c.Value(key); !ok || got != want {
			t.Errorf("Value(%s) = %q, %v; want %q", key, got, ok, want)
		}
	}
	if _, ok := c.Value("no.such.key"); ok {
		t.Error("Value of an unknown key reported ok")
	}
	_, _, err = Parse("efm", []byte(minimal+"bad=\\u12\n"))
	want := []string{"efm.properties: cannot read it as key=value properties: Line 9: invalid unicode literal"}
	if diff := cmp.Diff(want, problemsOf(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
