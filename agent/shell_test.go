package agent

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openefm/efm/internal/core"
)

// fakeNet records what the shell sends.
type fakeNet struct {
	mu   sync.Mutex
	sent []string
}

func (f *fakeNet) Send(_ context.Context, to string, b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, to)
	return nil
}
func (f *fakeNet) Messages() <-chan inbound     { return nil }
func (f *fakeNet) Changes() <-chan struct{}     { return nil }
func (f *fakeNet) View() core.MembershipChanged { return core.MembershipChanged{} }
func (f *fakeNet) SetLocalState(string)         {}
func (f *fakeNet) Leave(time.Duration) error    { return nil }
func (f *fakeNet) Shutdown() error              { return nil }

func (f *fakeNet) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

func testShell(t *testing.T, statePath string) (*shell, *fakeNet) {
	t.Helper()
	fn := &fakeNet{}
	return &shell{log: slog.New(slog.DiscardHandler), net: fn, state: stateFile{path: statePath}}, fn
}

// A vote that could not be made durable must never be sent: the batch
// stops at the failed Persist.
func TestFailedPersistStopsTheBatch(t *testing.T) {
	// A regular file as the state path's parent fails for root too,
	// where directory permissions would not.
	blocker := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, fn := testShell(t, filepath.Join(blocker, "efm.state"))
	vote := core.Message{Cluster: "efm", Type: core.MsgVoteResp, From: "10.0.0.2", Epoch: 7, Target: "10.0.0.3", OK: true}
	persistThenSend := []core.Action{
		core.Persist{State: core.Persisted{Epoch: 7, VotedEpoch: 7, VotedFor: "10.0.0.3"}},
		core.Send{To: "10.0.0.3", Msg: vote},
	}
	s.execute(context.Background(), persistThenSend)
	s.wg.Wait()
	if n := fn.count(); n != 0 {
		t.Fatalf("the vote was sent %d time(s) although persisting it failed", n)
	}

	// With a usable path the same batch persists, then sends.
	path := filepath.Join(t.TempDir(), "efm.state")
	s, fn = testShell(t, path)
	s.execute(context.Background(), persistThenSend)
	s.wg.Wait()
	if n := fn.count(); n != 1 {
		t.Fatalf("sent %d messages, want 1", n)
	}
	st, err := s.state.load()
	if err != nil || st.VotedFor != "10.0.0.3" || st.VotedEpoch != 7 {
		t.Fatalf("persisted state = %+v, %v", st, err)
	}
}

func TestCorruptStateRefusesToStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "efm.state")
	os.WriteFile(path, []byte("{not json"), 0o600)
	if _, err := (stateFile{path: path}).load(); err == nil {
		t.Fatal("a corrupt state file was accepted: a forgotten vote could be granted twice")
	}
}
