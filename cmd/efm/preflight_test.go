package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// errorLines drops check-conf's warnings from its stderr.
func errorLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if l != "" && !strings.HasPrefix(l, "warning:") {
			out = append(out, l)
		}
	}
	return out
}

// dbNodeConfig is witnessConfig turned into a database node; nothing here
// starts its agent, so the database paths need not exist.
func dbNodeConfig(t *testing.T, extra string) string {
	t.Helper()
	return witnessConfig(t, "is.witness=false\ndb.bin=/usr/lib/postgresql/15/bin\ndb.data.dir=/nonexistent/data\ndb.service.owner=postgres\n"+extra)
}

// TestCheckConfRunsStartChecks: check-conf runs the agent's start checks,
// reports every problem on its own line naming the key, and the agent
// refuses to start with exactly the same lines.
func TestCheckConfRunsStartChecks(t *testing.T) {
	notExec := filepath.Join(t.TempDir(), "notify.sh")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		dir   string
		wants [][]string // per error line, the words it must hold
	}{
		{"witness", witnessConfig(t, strings.Join([]string{
			"encrypt.agent.messages=true",
			"script.fence=/nonexistent/fence.sh %p",
			"script.notification=" + notExec,
			// What EDB EFM's own `efm encrypt` prints: 32 hex characters.
			"db.password.encrypted=0f1e2d3c4b5a69788796a5b4c3d2e1f0",
		}, "\n")+"\n"), [][]string{
			{"encrypt.agent.messages", "efm generate-key efm"},
			{"script.fence", "/nonexistent/fence.sh", "no such file"},
			{"script.notification", notExec, "not executable"},
			{"db.password.encrypted", "EDB Failover Manager", "efm encrypt efm"},
		}},
		{"database node", dbNodeConfig(t, strings.Join([]string{
			"virtual.ip=192.0.2.10",
			"virtual.ip.interface=nosuch0",
			"ping.server.command=/nonexistent/ping -c1",
		}, "\n")+"\n"), [][]string{
			{"virtual.ip.interface", "nosuch0", "lo"},
			{"ping.server.command", "/nonexistent/ping"},
		}},
		{"ping that does not work", dbNodeConfig(t, "ping.server.ip=192.0.2.1\nping.server.command=/bin/false\n"), [][]string{
			{"ping.server.command", "self-test", "/bin/false"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := efm(t, "check-conf", "efm", "-config-dir", tt.dir)
			lines := errorLines(errOut)
			if code != 1 || len(lines) != len(tt.wants) {
				t.Fatalf("check-conf: exit %d with %d error lines, want exit 1 with %d:\n%s%s", code, len(lines), len(tt.wants), out, errOut)
			}
			for i, words := range tt.wants {
				for _, w := range words {
					if !strings.Contains(lines[i], w) {
						t.Errorf("line %d %q does not hold %q", i+1, lines[i], w)
					}
				}
			}
			_, agentErr, code := efm(t, "agent", "efm", "-config-dir", tt.dir)
			if got := errorLines(filterLog(agentErr)); code != 1 || strings.Join(got, "\n") != strings.Join(lines, "\n") {
				t.Errorf("efm agent: exit %d, lines:\n%s\nwant check-conf's:\n%s", code, strings.Join(got, "\n"), strings.Join(lines, "\n"))
			}
		})
	}
}

// filterLog drops the agent's log records (it logs to stderr too).
func filterLog(stderr string) string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if !strings.HasPrefix(l, "time=") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestWitnessStartsWithoutPing: a witness never probes, so neither the
// absence of its ping program nor a ping.server.ip keeps it from starting.
func TestWitnessStartsWithoutPing(t *testing.T) {
	dir := witnessConfig(t, "ping.server.command=/nonexistent/ping -c1\nping.server.ip=192.0.2.1\n")
	if out, errOut, code := efm(t, "check-conf", "efm", "-config-dir", dir); code != 0 {
		t.Fatalf("check-conf: exit %d\n%s%s", code, out, errOut)
	}
	witnessAgent(t, dir)
	poll(t, 10*time.Second, "the witness answers node-status-json", func() bool {
		out, _, code := efm(t, "node-status-json", "efm", "-config-dir", dir)
		var ns map[string]string
		return code == 0 && json.Unmarshal([]byte(out), &ns) == nil
	})
}
