package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openefm/efm/internal/config"
	"github.com/openefm/efm/internal/pg"
)

// A stage that fails leaves the agent as the stages before it found it:
// what they set up is undone, last first, and no later stage runs.
func TestStartUndoesEarlierStagesOnFailure(t *testing.T) {
	tests := []struct {
		name     string
		failAt   int // index of the failing stage, -1 for none
		wantRan  []string
		wantUndo []string
	}{
		{"first stage fails", 0, []string{"a"}, nil},
		{"middle stage fails after setting up one piece", 1, []string{"a", "b"}, []string{"b1", "a"}},
		{"last stage fails", 2, []string{"a", "b", "c"}, []string{"b2", "b1", "a"}},
		{"every stage succeeds", -1, []string{"a", "b", "c"}, []string{"c", "b2", "b1", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ran, undone []string
			p := &process{}
			fail := errors.New("stage failed")
			step := func(i int, name string, pieces ...string) stage {
				return stage{name: name, run: func(context.Context) error {
					ran = append(ran, name)
					for j, piece := range pieces {
						if i == tt.failAt && j == len(pieces)-1 {
							return fail // after the earlier pieces, before this one
						}
						p.undo.push(func() { undone = append(undone, piece) })
					}
					if i == tt.failAt && len(pieces) == 0 {
						return fail
					}
					return nil
				}}
			}
			stages := []stage{step(0, "a", "a"), step(1, "b", "b1", "b2"), step(2, "c", "c")}
			err := p.start(context.Background(), stages)
			if (err != nil) != (tt.failAt >= 0) {
				t.Fatalf("start = %v, want failure %v", err, tt.failAt >= 0)
			}
			p.undo.run()
			if !slices.Equal(ran, tt.wantRan) {
				t.Errorf("stages run %v, want %v", ran, tt.wantRan)
			}
			if !slices.Equal(undone, tt.wantUndo) {
				t.Errorf("undone %v, want %v", undone, tt.wantUndo)
			}
			p.undo.run() // a second run undoes nothing twice
			if !slices.Equal(undone, tt.wantUndo) {
				t.Errorf("a second undo ran again: %v", undone)
			}
		})
	}
}

var nextIP atomic.Int32

// witnessRunConfig is a witness of cluster efm on its own loopback
// address, every file in a fresh directory.
func witnessRunConfig(t *testing.T, extra string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	token, err := pg.EncryptPassword("efm", "secret")
	if err != nil {
		t.Fatal(err)
	}
	ip := fmt.Sprintf("127.0.%d.%d", 160+os.Getpid()%90, 10+nextIP.Add(1))
	props := fmt.Sprintf(`db.user=postgres
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
%s`, token, ip, dir, dir, dir, dir, extra)
	path := filepath.Join(dir, "efm.properties")
	if err := os.WriteFile(path, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "efm.nodes"), []byte("# no other node yet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// assertReleased checks that nothing of a stopped agent is left held: the
// cluster lock and pid file are gone, the state file can be locked again,
// the membership's address is free and no admin socket remains.
func assertReleased(t *testing.T, cfg *config.Config) {
	t.Helper()
	for _, path := range []string{cfg.LockPath(), cfg.PidPath(), cfg.SocketPath()} {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind (stat: %v)", path, err)
		}
	}
	_, _, release, err := openState(cfg.StatePath(), cfg.Cluster, cfg.BindAddress.Host, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Errorf("state file still held: %v", err)
	} else {
		release()
	}
	ln, err := net.Listen("tcp", cfg.BindAddress.String())
	if err != nil {
		t.Errorf("membership address still in use: %v", err)
	} else {
		ln.Close()
	}
}

// A start that fails at its last stages (here the metrics listener, after
// the membership has been joined) releases everything the earlier stages
// took.
func TestRunReleasesEverythingWhenALateStageFails(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	cfg := witnessRunConfig(t, "metrics.address="+busy.Addr().String()+"\n")

	var stderr bytes.Buffer
	err = Run(context.Background(), cfg, Options{Stderr: &stderr})
	if err == nil || !strings.Contains(err.Error(), "metrics.address") {
		t.Fatalf("Run = %v, want the metrics.address failure", err)
	}
	assertReleased(t, cfg)
	if strings.Contains(stderr.String(), "agent stopped") {
		t.Errorf("a failed start logged a clean stop:\n%s", stderr.String())
	}
}

// syncBuffer is a log sink the test reads while the agent writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A clean stop undoes every stage and logs the stop last.
func TestRunCleanStopReleasesEverything(t *testing.T) {
	cfg := witnessRunConfig(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, Options{Stderr: &stderr}) }()

	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "agent started") {
		select {
		case err := <-done:
			t.Fatalf("Run returned before starting: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent not started after 30s:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond) // polling the log, not a synchronisation
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	assertReleased(t, cfg)
	out := strings.TrimSpace(stderr.String())
	lines := strings.Split(out, "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "agent stopped") {
		t.Errorf("last log line %q, want the agent stopped line", last)
	}
}
