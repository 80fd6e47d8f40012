package config

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// withLine returns minimal with key set to value (replacing the line if
// minimal has one).
func withLine(base, key, value string) string {
	var out []string
	replaced := false
	for _, l := range strings.Split(strings.TrimSuffix(base, "\n"), "\n") {
		if strings.HasPrefix(l, key+"=") {
			l = key + "=" + value
			replaced = true
		}
		out = append(out, l)
	}
	if !replaced {
		out = append(out, key+"="+value)
	}
	return strings.Join(out, "\n") + "\n"
}

func TestGoodValues(t *testing.T) {
	tests := []struct {
		key, value string
		got        func(c *Config) any
		want       any
	}{
		{"is.witness", "FALSE", func(c *Config) any { return c.IsWitness }, false},
		{"auto.failover", "False", func(c *Config) any { return c.AutoFailover }, false},
		{"promotable", "TRUE", func(c *Config) any { return c.Promotable }, true},
		{"local.period", "3", func(c *Config) any { return c.LocalPeriod }, 3 * time.Second},
		{"local.period", " 3 ", func(c *Config) any { return c.LocalPeriod }, 3 * time.Second},
		{"standby.restart.delay", "0", func(c *Config) any { return c.StandbyRestartDelay }, time.Duration(0)},
		{"bind.address", "[fd00::5]:7800", func(c *Config) any { return c.BindAddress }, HostPort{"fd00::5", 7800}},
		{"bind.address", "[fe80::1%eth0]:7800", func(c *Config) any { return c.BindAddress.String() }, "[fe80::1%eth0]:7800"},
		{"metrics.address", "127.0.0.1:9187", func(c *Config) any { return c.MetricsAddress.String() }, "127.0.0.1:9187"},
		{"metrics.address", "[::1]:9187", func(c *Config) any { return c.MetricsAddress.String() }, "[::1]:9187"},
		{"jdbc.sslmode", "Verify-Full", func(c *Config) any { return c.JDBCSSLMode }, "verify-full"},
		{"notification.level", "severe", func(c *Config) any { return c.NotificationLevel }, "SEVERE"},
		{"efm.loglevel", "trace", func(c *Config) any { return c.EFMLogLevel }, LevelTrace},
		{"efm.loglevel", "WARN", func(c *Config) any { return c.EFMLogLevel }, slog.LevelWarn},
		{"syslog.facility", "local7", func(c *Config) any { return c.SyslogFacility }, "LOCAL7"},
		{"ping.server.ip", "fd00::1", func(c *Config) any { return c.PingServerIP }, "fd00::1"},
		{"ping.server.ip", "gw.example.com", func(c *Config) any { return c.PingServerIP }, "gw.example.com"},
		{"virtual.ip", "", func(c *Config) any { return c.VirtualIP }, ""},
		{"db.config.dir", "/etc/postgresql/15/main/", func(c *Config) any { return c.DBConfigDir }, "/etc/postgresql/15/main"},
		{"db.host", "127.0.0.1", func(c *Config) any { return c.DBHost }, "127.0.0.1"},
		{"db.host", "", func(c *Config) any { return c.DBHost }, "10.0.0.5"},
		{"agent.key.file", "/etc/efm/secret.key", func(c *Config) any { return c.AgentKeyFile }, "/etc/efm/secret.key"},
		{"user.email", "a@example.com  b@example.com", func(c *Config) any { return c.UserEmail }, []string{"a@example.com", "b@example.com"}},
		{"script.fence", "/usr/local/bin/fence %p %f", func(c *Config) any { return c.ScriptFence }, "/usr/local/bin/fence %p %f"},
		{"restore.command", "scp %h:/archive/%f %p", func(c *Config) any { return c.RestoreCommand }, "scp %h:/archive/%f %p"},
		{"notification.text.prefix", `line one\nline two`, func(c *Config) any { return c.NotificationTextPrefix }, "line one\nline two"},
		{"from.email", "efm@%h", func(c *Config) any { return c.FromEmail }, "efm@%h"},
		{"jvm.options", "${JAVA_OPTS}", func(c *Config) any { return c.JVMOptions }, "${JAVA_OPTS}"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			c, _, err := Parse("efm", []byte(withLine(minimal, tt.key, tt.value)))
			if err != nil {
				t.Fatalf("refused:\n%v", err)
			}
			if diff := cmp.Diff(tt.want, tt.got(c)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestBadValues(t *testing.T) {
	tests := []struct {
		key, value string
		want       string // the whole error line after "efm.properties: "
	}{
		{"db.port", "5432x", `db.port: value "5432x" is not a port; accepted: 1 to 65535`},
		{"db.port", "0", `db.port: value "0" is not a port; accepted: 1 to 65535`},
		{"db.port", "65536", `db.port: value "65536" is not a port; accepted: 1 to 65535`},
		{"local.period", "0", `local.period: value "0" is not a whole number; accepted: 1 to 2147483647 seconds`},
		{"local.period", "-5", `local.period: value "-5" is not a whole number; accepted: 1 to 2147483647 seconds`},
		{"local.period", "10s", `local.period: value "10s" is not a whole number; accepted: 1 to 2147483647 seconds`},
		{"node.timeout", "99999999999", `node.timeout: value "99999999999" is not a whole number; accepted: 1 to 2147483647 seconds`},
		{"is.witness", "yes", `is.witness: value "yes" is not a boolean; accepted: true or false`},
		{"auto.failover", "1", `auto.failover: value "1" is not a boolean; accepted: true or false`},
		{"bind.address", "10.0.0.5", `bind.address: value "10.0.0.5" is not ip:port; accepted: <ip>:<port>, IPv6 as [addr]:port, port 1-65535`},
		{"bind.address", "fd00::5:7800", `bind.address: value "fd00::5:7800" is not ip:port; accepted: <ip>:<port>, IPv6 as [addr]:port, port 1-65535`},
		{"bind.address", "node1.example.com:7800", `bind.address: value "node1.example.com:7800" is not ip:port; accepted: <ip>:<port>, IPv6 as [addr]:port, port 1-65535`},
		{"bind.address", "10.0.0.5:0", `bind.address: value "10.0.0.5:0" is not ip:port; accepted: <ip>:<port>, IPv6 as [addr]:port, port 1-65535`},
		{"bind.address", "0.0.0.0:7800", `bind.address: value "0.0.0.0:7800" is a wildcard address; accepted: this node's own IP, which names it in the cluster`},
		{"jdbc.sslmode", "prefer", `jdbc.sslmode: value "prefer" is not accepted; accepted: disable, require, verify-ca, verify-full`},
		{"notification.level", "ERROR", `notification.level: value "ERROR" is not accepted; accepted: INFO, WARNING, SEVERE`},
		{"efm.loglevel", "WARNING", `efm.loglevel: value "WARNING" is not accepted; accepted: TRACE, DEBUG, INFO, WARN, ERROR`},
		{"syslog.protocol", "RELP", `syslog.protocol: value "RELP" is not accepted; accepted: UDP, TCP`},
		{"ping.server.ip", "10.0.0.300", `ping.server.ip: value "10.0.0.300" is not an address; accepted: an IPv4 or IPv6 address (no brackets, no port) or a host name`},
		{"ping.server.ip", "127.0.0.1", `ping.server.ip: value "127.0.0.1" is a loopback address and cannot tell whether this node is isolated; accepted: an address outside the cluster that every node can reach`},
		{"ping.server.ip", "::1", `ping.server.ip: value "::1" is a loopback address and cannot tell whether this node is isolated; accepted: an address outside the cluster that every node can reach`},
		{"ping.server.ip", "localhost", `ping.server.ip: value "localhost" is a loopback address and cannot tell whether this node is isolated; accepted: an address outside the cluster that every node can reach`},
		{"ping.server.ip", "10.0.0.5", `ping.server.ip: value "10.0.0.5" is this node's bind.address; accepted: an address outside the cluster that every node can reach`},
		{"virtual.ip.interface", "eth0:1", `virtual.ip.interface: value "eth0:1" is not an interface name; accepted: a name such as eth0 (at most 15 characters, no ':label' suffix)`},
		{"virtual.ip.prefix", "129", `virtual.ip.prefix: value "129" is not a whole number; accepted: 1 to 128`},
		{"db.bin", "usr/lib/postgresql/15/bin", `db.bin: value "usr/lib/postgresql/15/bin" is not an absolute path; accepted: a path starting with /`},
		{"lock.dir", "run/lock", `lock.dir: value "run/lock" is not an absolute path; accepted: a path starting with /`},
		{"script.fence", "fence.sh %p", `script.fence: value "fence.sh %p" does not start with an absolute path; accepted: /path/to/program [arguments]`},
		{"user.email", "dba@example.com oncall", `user.email: entry "oncall": not a mail address; accepted: user@domain`},
		{"priority.standbys", "10.0.0.6 10.0.0.7:5432", `priority.standbys: entry "10.0.0.7:5432": value "10.0.0.7:5432" is not an address; accepted: an IPv4 or IPv6 address (no brackets, no port) or a host name`},
		{"metrics.address", "10.0.0.5:7800", `metrics.address: value "10.0.0.5:7800" is also bind.address; accepted: another port`},
		{"metrics.address", ":9187", `metrics.address: value ":9187" is not ip:port; accepted: <ip>:<port>, IPv6 as [addr]:port, port 1-65535`},
		{"jdbc.properties", "sslrootcert", `jdbc.properties: value "sslrootcert": "sslrootcert" is not name=value; accepted: name=value pairs joined by &`},
		{"minimum.standbys", "-1", `minimum.standbys: value "-1" is not a whole number; accepted: 0 to 65536`},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			_, _, err := Parse("efm", []byte(withLine(minimal, tt.key, tt.value)))
			lines := problemsOf(t, err)
			if diff := cmp.Diff([]string{"efm.properties: " + tt.want}, lines); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestContradictions(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		want  []string
	}{
		{"ping server is the VIP", "virtual.ip=10.0.0.100\nvirtual.ip.interface=eth0\nping.server.ip=10.0.0.100\n",
			[]string{`efm.properties: ping.server.ip: value "10.0.0.100" equals virtual.ip; accepted: an address outside the cluster that every node can reach`}},
		{"VIP without interface", "virtual.ip=10.0.0.100\n",
			[]string{"efm.properties: virtual.ip.interface: required on a database node when virtual.ip is set, but not set"}},
		{"IPv4 VIP with an IPv6 prefix", "virtual.ip=10.0.0.100\nvirtual.ip.interface=eth0\nvirtual.ip.prefix=64\n",
			[]string{"efm.properties: virtual.ip.prefix: value 64 is too long for the IPv4 virtual.ip 10.0.0.100; accepted: 1 to 32"}},
		{"VIP is this node", "virtual.ip=10.0.0.5\nvirtual.ip.interface=eth0\n",
			[]string{`efm.properties: virtual.ip: value "10.0.0.5" is this node's bind.address; accepted: an address no node owns`}},
		{"loopback VIP", "virtual.ip=127.0.0.2\nvirtual.ip.interface=lo\n",
			[]string{`efm.properties: virtual.ip: value "127.0.0.2" cannot be a virtual IP; accepted: a unicast address on this network`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse("efm", []byte(minimal+tt.extra))
			if diff := cmp.Diff(tt.want, problemsOf(t, err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		want  string // substring of one warning
	}{
		{"remote above local timeout", "local.timeout=20\nremote.timeout=30\n", "remote.timeout: 30s is longer than local.timeout (20s)"},
		{"no notification sink", "", "user.email, script.notification: neither is set"},
		{"encrypted script output without a script", "script.db.password.encrypted=true\n", "script.db.password.encrypted: true but script.db.password is not set"},
		{"java-only key", "jvm.options=-Xmx256m\n", "jvm.options: no effect in OpenEFM"},
		{"not built", "syslog.enabled=true\nbackup.wal=false\n", "backup.wal, syslog.enabled=true: not implemented in OpenEFM yet"},
		{"repeated key", "local.period=5\n# local.period=6\nlocal.period = 7\n", `local.period: set 2 times; the last value, "7", is used`},
		{"repeated after a continuation", "script.fence=/bin/true \\\n local.period=9\nlocal.period=7\nlocal.period=8\n", `local.period: set 2 times; the last value, "8", is used`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warnings, err := Parse("efm", []byte(minimal+tt.extra))
			if err != nil {
				t.Fatalf("refused:\n%v", err)
			}
			found := false
			for _, w := range warnings {
				if !strings.HasPrefix(w, "efm.properties: ") {
					t.Errorf("warning does not start with the file: %q", w)
				}
				found = found || strings.Contains(w, tt.want)
			}
			if !found {
				t.Errorf("no warning contains %q: %q", tt.want, warnings)
			}
			if c == nil {
				t.Fatal("no config despite no error")
			}
		})
	}
	// remote.timeout equal to local.timeout is fine.
	_, warnings, _ := Parse("efm", []byte(minimal+"local.timeout=10\nremote.timeout=10\n"))
	if mentions(warnings, "remote.timeout") {
		t.Errorf("equal timeouts warned: %q", warnings)
	}
}

func TestLegacyKeys(t *testing.T) {
	tests := map[string]string{
		"stop.isolated.master":       "stop.isolated.primary",
		"stop.failed.master":         "stop.failed.primary",
		"master.shutdown.as.failure": "primary.shutdown.as.failure",
		"reconfigure.sync.master":    "reconfigure.sync.primary",
		"script.master.isolated":     "script.primary.isolated",
		"auto.resume.period":         "auto.resume.startup.period",
		"pingServerIp":               "ping.server.ip",
		"pingServerCommand":          "ping.server.command",
		"virtualIp":                  "virtual.ip",
		"virtualIp.interface":        "virtual.ip.interface",
		"virtualIp.netmask":          "virtual.ip.prefix",
		"db.recovery.conf.dir":       "db.data.dir",
		"jgroups.max.tries":          "node.timeout",
	}
	for old, newKey := range tests {
		t.Run(old, func(t *testing.T) {
			_, _, err := Parse("efm", []byte(minimal+old+"=x\n"))
			lines := problemsOf(t, err)
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "efm.properties: "+old+": no longer accepted: ") || !strings.Contains(lines[0], newKey) {
				t.Errorf("lines = %q, want one naming %s and %s", lines, old, newKey)
			}
		})
	}
}

func TestUnknownKeySuggestion(t *testing.T) {
	tests := []struct{ key, want string }{
		{"vitrual.ip", "did you mean virtual.ip?"},
		{"virtual.ip.interfce", "did you mean virtual.ip.interface?"},
		{"Bind.Address", "did you mean bind.address?"},
		{"local.timout", "did you mean local.timeout?"},
		{"db.passwd.encrypted", "did you mean db.password.encrypted?"},
		{"enable.stack.dumps", "unknown property; efm.properties.example lists the known ones"},
		{"foo", "unknown property; efm.properties.example lists the known ones"},
		{"a/b", "unknown property; efm.properties.example lists the known ones"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			_, _, err := Parse("efm", []byte(minimal+tt.key+"=1\n"))
			want := []string{"efm.properties: " + tt.key + ": " + strings.TrimPrefix(tt.want, "")}
			if !strings.HasPrefix(tt.want, "unknown") {
				want = []string{"efm.properties: " + tt.key + ": unknown property; " + tt.want}
			}
			if diff := cmp.Diff(want, problemsOf(t, err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequiredKeys(t *testing.T) {
	t.Run("database node needs everything", func(t *testing.T) {
		_, _, err := Parse("efm", []byte("# nothing\n"))
		want := []string{
			"efm.properties: db.user: required on a database node (is.witness=false) but not set",
			"efm.properties: db.password.encrypted: required on a database node (is.witness=false) unless script.db.password is set, but not set",
			"efm.properties: db.port: required on a database node (is.witness=false) but not set",
			"efm.properties: db.database: required on a database node (is.witness=false) but not set",
			"efm.properties: db.service.owner: required on a database node (is.witness=false) but not set",
			"efm.properties: db.bin: required on a database node (is.witness=false) but not set",
			"efm.properties: db.data.dir: required on a database node (is.witness=false) but not set",
			"efm.properties: bind.address: required on a database node (is.witness=false) but not set",
		}
		if diff := cmp.Diff(want, problemsOf(t, err)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("witness needs no database paths", func(t *testing.T) {
		c, _, err := Parse("efm", []byte(minimalWitness))
		if err != nil {
			t.Fatalf("refused:\n%v", err)
		}
		if !c.IsWitness {
			t.Error("IsWitness false")
		}
	})
	t.Run("witness still needs the connection keys", func(t *testing.T) {
		_, _, err := Parse("efm", []byte("is.witness=true\n"))
		want := []string{
			"efm.properties: db.user: required on a witness (is.witness=true) but not set",
			"efm.properties: db.password.encrypted: required on a witness (is.witness=true) unless script.db.password is set, but not set",
			"efm.properties: db.port: required on a witness (is.witness=true) but not set",
			"efm.properties: db.database: required on a witness (is.witness=true) but not set",
			"efm.properties: bind.address: required on a witness (is.witness=true) but not set",
		}
		if diff := cmp.Diff(want, problemsOf(t, err)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("password script replaces the encrypted password", func(t *testing.T) {
		data := strings.Replace(minimal, "db.password.encrypted=0123456789abcdef0123456789abcdef\n", "script.db.password=/usr/local/bin/get-pw\n", 1)
		if _, _, err := Parse("efm", []byte(data)); err != nil {
			t.Errorf("refused:\n%v", err)
		}
	})
	t.Run("empty value is unset", func(t *testing.T) {
		_, _, err := Parse("efm", []byte(withLine(minimal, "db.user", "  ")))
		want := []string{"efm.properties: db.user: required on a database node (is.witness=false) but not set"}
		if diff := cmp.Diff(want, problemsOf(t, err)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("witness with a VIP needs no interface", func(t *testing.T) {
		if _, _, err := Parse("efm", []byte(minimalWitness+"virtual.ip=10.0.0.100\n")); err != nil {
			t.Errorf("refused:\n%v", err)
		}
	})
}

func TestKeyTable(t *testing.T) {
	for _, k := range Keys() {
		if k.Meaning == "" || k.Section == "" || k.Kind == "" || k.Status == "" {
			t.Errorf("%s: incomplete description %+v", k.Name, k)
		}
		if (k.Database || k.Witness) && k.Default != "" {
			t.Errorf("%s: required and has a default; a key with a default is never missing", k.Name)
		}
		if _, isLegacy := legacy[k.Name]; isLegacy {
			t.Errorf("%s is both known and legacy", k.Name)
		}
	}
	// Every default must itself be accepted: parse a file setting each key
	// to its default explicitly.
	var b strings.Builder
	b.WriteString(minimal)
	for _, k := range Keys() {
		if k.Default != "" {
			b.WriteString(k.Name + "=" + k.Default + "\n")
		}
	}
	if _, _, err := Parse("efm", []byte(b.String())); err != nil {
		t.Errorf("defaults written out are refused:\n%v", err)
	}
}
