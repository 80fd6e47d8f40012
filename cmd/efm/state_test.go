package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTwoAgentsOneStateDir: two agents of one cluster, each with its own
// bind address, lock.dir and pid.dir but the same state.dir (a test bench
// or a container image easily does that). The second is refused in one
// line naming the state file and its owner, while the first runs and
// after it stopped.
func TestTwoAgentsOneStateDir(t *testing.T) {
	first := witnessConfig(t, "")
	stateFile := filepath.Join(first, "state", "efm.state")
	second := witnessConfig(t, "state.dir="+filepath.Join(first, "state")+"\n")
	owner := bindIP(t, first)

	agent := witnessAgent(t, first)
	poll(t, 10*time.Second, "the first agent answers node-status-json", func() bool {
		out, _, code := efm(t, "node-status-json", "efm", "-config-dir", first)
		var ns map[string]string
		return code == 0 && json.Unmarshal([]byte(out), &ns) == nil
	})
	refused := func(when string) {
		t.Helper()
		code, errOut := secondAgent(t, second)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		last := lines[len(lines)-1]
		if code != 1 || !strings.Contains(last, "state file "+stateFile) || !strings.Contains(last, owner) {
			t.Errorf("second agent %s: exit %d, last line %q; want exit 1 and one line naming %s and its owner %s\n%s", when, code, last, stateFile, owner, errOut)
		}
	}
	refused("while the first runs")

	agent.Process.Signal(syscall.SIGTERM)
	agent.Wait()
	refused("after the first stopped")
}

// secondAgent runs `efm agent` for dir until it exits, or until it logs
// that it started (it was not refused: it is stopped and -1 returned).
func secondAgent(t *testing.T, dir string) (code int, stderr string) {
	t.Helper()
	cmd := exec.Command(efmBin, "agent", "efm", "-config-dir", dir)
	pipe, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "agent started") {
			cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	err := cmd.Wait()
	if strings.Contains(out.String(), "agent started") {
		return -1, out.String()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String()
}
