package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// efmBin is the efm binary built once for the tests that run it as a user
// would: a separate process, signals, exit codes.
var efmBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "efm-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	efmBin = filepath.Join(dir, "efm")
	out, err := exec.Command("go", "build", "-o", efmBin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building efm: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// nextIP hands every test its own loopback address, so agents of parallel
// tests never share a port.
var nextIP atomic.Int32

func loopbackIP() string {
	return fmt.Sprintf("127.0.%d.%d", 60+os.Getpid()%100, 10+nextIP.Add(1))
}

// witnessConfig writes a witness cluster config (no database needed) into
// a fresh directory and returns the directory.
func witnessConfig(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	props := fmt.Sprintf(`# a witness: the agent runs without a database
db.user=postgres
db.password.encrypted=%s
db.port=5432
db.database=postgres
bind.address=%s:7800
is.witness=true
auto.allow.hosts=true
node.timeout=5
lock.dir=%s/lock
pid.dir=%s/run
log.dir=%s/log
state.dir=%s/state
%s`, encrypted(t, "efm"), loopbackIP(), dir, dir, dir, dir, extra)
	if err := os.WriteFile(filepath.Join(dir, "efm.properties"), []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "efm.nodes"), []byte("# no other node yet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func encrypted(t *testing.T, cluster string) string {
	t.Helper()
	var out bytes.Buffer
	t.Setenv("EFMPASS", "secret")
	if code := run([]string{"encrypt", cluster, "--from-env"}, nil, &out, &bytes.Buffer{}); code != 0 {
		t.Fatalf("efm encrypt exit %d", code)
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if _, v, ok := strings.Cut(l, "db.password.encrypted="); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no db.password.encrypted in %q", out.String())
	return ""
}

func efm(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, strings.NewReader(""), &o, &e)
	return o.String(), e.String(), code
}

func TestHelp(t *testing.T) {
	out, _, code := efm(t, "--help")
	if code != 0 {
		t.Fatalf("efm --help exit %d", code)
	}
	for _, c := range []string{"cluster-status", "allow-node", "promote", "resume", "check-conf", "agent", "node-status-json"} {
		if !strings.Contains(out, c) {
			t.Errorf("efm --help does not list %s", c)
		}
	}
	out, _, code = efm(t, "promote", "--help")
	if code != 0 || !strings.Contains(out, "-switchover") || !strings.Contains(out, "-sourcenode") {
		t.Errorf("efm promote --help (exit %d) does not document its options:\n%s", code, out)
	}
}

func TestArgumentErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate", "efm"}, `unknown command "frobnicate"`},
		{[]string{"cluster-status"}, "missing the cluster name"},
		{[]string{"allow-node", "efm"}, "expected 1 argument"},
		{[]string{"promote", "efm", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"promote", "efm", "-sourcenode", "10.0.0.1"}, "-sourcenode is only valid with -switchover"},
	}
	for _, tc := range tests {
		_, errOut, code := efm(t, tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("efm %s: exit %d, stderr %q; want non-zero and %q", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
	}
}

func TestCheckConf(t *testing.T) {
	dir := witnessConfig(t, "")
	out, errOut, code := efm(t, "check-conf", "efm", "-config-dir", dir)
	if code != 0 || !strings.Contains(out, "is valid") {
		t.Fatalf("check-conf of a valid file: exit %d\n%s%s", code, out, errOut)
	}
	// Three mistakes: an unknown key, a bad value, a legacy name.
	bad := witnessConfig(t, "node.timout=5\nauto.failover=maybe\nstop.isolated.master=true\n")
	_, errOut, code = efm(t, "check-conf", "efm", "-config-dir", bad)
	if code != 1 {
		t.Fatalf("check-conf with three mistakes: exit %d, want 1\n%s", code, errOut)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
		if !strings.HasPrefix(l, "warning:") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("want 3 error lines, got %d:\n%s", len(lines), errOut)
	}
	for _, want := range []string{"node.timout", "auto.failover", "stop.isolated.primary"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("errors do not name %s:\n%s", want, errOut)
		}
	}
	// The agent reports the same lines and refuses to start.
	_, agentErr, code := efm(t, "agent", "efm", "-config-dir", bad)
	if code != 1 || agentErr != strings.Join(lines, "\n")+"\n" {
		t.Errorf("efm agent with three mistakes: exit %d, stderr:\n%s\nwant the check-conf lines:\n%s", code, agentErr, strings.Join(lines, "\n"))
	}
}

func TestConfigDirFromEnvironment(t *testing.T) {
	dir := witnessConfig(t, "")
	t.Setenv("EFM_CONFIG_DIR", dir)
	if out, errOut, code := efm(t, "check-conf", "efm"); code != 0 {
		t.Fatalf("check-conf with EFM_CONFIG_DIR: exit %d\n%s%s", code, out, errOut)
	}
}

func TestNoAgentRunning(t *testing.T) {
	dir := witnessConfig(t, "")
	_, errOut, code := efm(t, "node-status-json", "efm", "-config-dir", dir)
	sock := filepath.Join(dir, "run", "efm.sock")
	if code != 1 || !strings.Contains(errOut, `cluster "efm"`) || !strings.Contains(errOut, sock) {
		t.Fatalf("want exit 1 naming the cluster and %s; got exit %d: %s", sock, code, errOut)
	}
	if n := strings.Count(strings.TrimSpace(errOut), "\n"); n != 0 {
		t.Errorf("want one line, got %d:\n%s", n+1, errOut)
	}
}

// TestAgentLifecycle runs the agent as a user would: it starts, takes the
// lock, answers node-status-json, refuses a second agent, and stops on
// SIGTERM, leaving no pid file or socket behind.
func TestAgentLifecycle(t *testing.T) {
	dir := witnessConfig(t, "")
	agent := exec.Command(efmBin, "agent", "efm", "-config-dir", dir)
	stderr, _ := agent.StderrPipe()
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	logLines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case logLines <- sc.Text():
			default:
			}
		}
		exited <- agent.Wait()
	}()
	t.Cleanup(func() { agent.Process.Kill() })

	var ns map[string]string
	poll(t, 10*time.Second, "agent answers node-status-json", func() bool {
		out, _, code := efm(t, "node-status-json", "efm", "-config-dir", dir)
		return code == 0 && json.Unmarshal([]byte(out), &ns) == nil
	})
	if ns["type"] != "Witness" || ns["db"] != "N/A" || ns["vip_active"] != "false" || ns["address"] == "" {
		t.Errorf("node-status-json = %v", ns)
	}
	lock, _ := os.ReadFile(filepath.Join(dir, "lock", "efm.lock"))
	if strings.TrimSpace(string(lock)) != fmt.Sprint(agent.Process.Pid) {
		t.Errorf("lock file holds %q, want the agent's pid %d", lock, agent.Process.Pid)
	}
	_, errOut, code := efm(t, "agent", "efm", "-config-dir", dir)
	if code != 1 || !strings.Contains(errOut, fmt.Sprintf("held by pid %d", agent.Process.Pid)) {
		t.Errorf("second agent: exit %d, %q; want refusal naming pid %d", code, errOut, agent.Process.Pid)
	}

	agent.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("agent exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("agent did not stop on SIGTERM")
	}
	for _, f := range []string{"run/efm.pid", "run/efm.sock", "lock/efm.lock"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s left behind after a clean stop", f)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "log", "efm.log")); err != nil || !strings.Contains(string(b), "agent stopped") {
		t.Errorf("log file lacks the stop record (err %v)", err)
	}
}

func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %v waiting until %s", timeout, what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
