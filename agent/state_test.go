package agent

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openefm/efm/internal/core"
)

func openTestState(t *testing.T, path, node string) (stateFile, core.Persisted, error) {
	t.Helper()
	st, p, release, err := openState(path, "efm", node, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Cleanup(release)
	}
	return st, p, err
}

// Two agents pointed at one state.dir: the second is refused while the
// first runs (the lock), and after it stopped (the owner in the file).
func TestStateFileBoundToItsNode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "efm.state")
	st, _, release, err := openState(path, "efm", "10.0.0.1", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.save(core.Persisted{Epoch: 4, VotedEpoch: 4, VotedFor: "10.0.0.3"}); err != nil {
		t.Fatal(err)
	}

	_, _, err = openTestState(t, path, "10.0.0.2")
	var inUse *StateInUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("second agent while the first runs: want StateInUseError, got %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "10.0.0.1") || !strings.Contains(msg, "pid") || strings.Contains(msg, "\n") {
		t.Errorf("refusal must be one line naming the file, its owner and the holder: %q", msg)
	}
	// The same node twice (another lock.dir) is refused as well.
	if _, _, err := openTestState(t, path, "10.0.0.1"); !errors.As(err, &inUse) {
		t.Fatalf("a second agent of the same node: want StateInUseError, got %v", err)
	}

	release()
	_, _, err = openTestState(t, path, "10.0.0.2")
	var owner *StateOwnerError
	if !errors.As(err, &owner) {
		t.Fatalf("another node after the owner stopped: want StateOwnerError, got %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "node 10.0.0.1 of cluster efm") || strings.Contains(msg, "\n") {
		t.Errorf("refusal must be one line naming the file and its owner: %q", msg)
	}
	// Another cluster's agent with the same address is refused too.
	if _, _, _, err := openState(path, "other", "10.0.0.1", slog.New(slog.DiscardHandler)); !errors.As(err, &owner) {
		t.Fatalf("another cluster: want StateOwnerError, got %v", err)
	}

	// The owner gets its vote back.
	_, p, err := openTestState(t, path, "10.0.0.1")
	if err != nil || p.VotedFor != "10.0.0.3" || p.Epoch != 4 {
		t.Fatalf("owner reopening: %+v, %v", p, err)
	}
}

// A file written before owners were recorded is adopted once, with a log
// line, and then belongs to its adopter.
func TestStateFileFromEarlierVersionIsAdopted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "efm.state")
	if err := os.WriteFile(path, []byte(`{"epoch":9,"primary":"10.0.0.3","voted_epoch":9,"voted_for":"10.0.0.3"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	_, p, release, err := openState(path, "efm", "10.0.0.1", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("an earlier version's state file was refused: %v", err)
	}
	if p.Epoch != 9 || p.VotedFor != "10.0.0.3" {
		t.Errorf("adopted state = %+v, want epoch 9 and the vote", p)
	}
	if !strings.Contains(logs.String(), "adopting") || !strings.Contains(logs.String(), path) {
		t.Errorf("no log line for the adoption: %q", logs.String())
	}
	release()
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"node":"10.0.0.1"`) || !strings.Contains(string(b), `"cluster":"efm"`) {
		t.Errorf("the adopted file does not record its owner: %s", b)
	}
	if _, _, err := openTestState(t, path, "10.0.0.2"); err == nil {
		t.Error("after adoption another node could still take the file")
	}
}
