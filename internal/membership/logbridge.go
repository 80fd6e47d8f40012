package membership

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// newMemberlistLogger bridges memberlist's "[LEVEL] memberlist: msg"
// lines into slog at the matching level, so a key mismatch or a refused
// packet shows up as a warning or error in the agent's log, with a hint
// saying what to check. The re-join loop retries every few seconds, so an
// identical warning is logged once per repeatEvery with a count of the
// repeats in between.
func newMemberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(&mlWriter{l: l.With("component", "memberlist"), last: map[string]time.Time{}, count: map[string]int{}}, "", 0)
}

const repeatEvery = 30 * time.Second

type mlWriter struct {
	l     *slog.Logger
	mu    sync.Mutex
	last  map[string]time.Time
	count map[string]int
}

var levels = []struct {
	tag   string
	level slog.Level
}{
	{"[DEBUG] ", slog.LevelDebug},
	{"[INFO] ", slog.LevelInfo},
	{"[WARN] ", slog.LevelWarn},
	{"[ERR] ", slog.LevelError},
	{"[ERROR] ", slog.LevelError},
}

var hints = []struct{ match, hint string }{
	{"decrypt", "the peer uses another cluster key: encrypt.agent.messages and the key file must match on every node"},
	{"encryption is not configured", "the peer encrypts and this node does not: set encrypt.agent.messages alike on every node"},
	{"not encrypted", "this node encrypts and the peer does not: set encrypt.agent.messages alike on every node"},
	{"label", "the peer belongs to another cluster (different cluster name)"},
}

func (w *mlWriter) Write(p []byte) (int, error) {
	msg := string(bytes.TrimSpace(p))
	level := slog.LevelInfo
	for _, l := range levels {
		if strings.HasPrefix(msg, l.tag) {
			level, msg = l.level, msg[len(l.tag):]
			break
		}
	}
	msg = strings.TrimPrefix(msg, "memberlist: ")
	var attrs []any
	if level >= slog.LevelWarn {
		key, _, _ := strings.Cut(msg, " from=")
		now := time.Now()
		w.mu.Lock()
		if t, ok := w.last[key]; ok && now.Sub(t) < repeatEvery {
			w.count[key]++
			w.mu.Unlock()
			return len(p), nil
		}
		if len(w.last) > 1000 {
			clear(w.last)
			clear(w.count)
		}
		if n := w.count[key]; n > 0 {
			attrs = append(attrs, "repeated", n)
		}
		w.last[key], w.count[key] = now, 0
		w.mu.Unlock()
		for _, h := range hints {
			if strings.Contains(msg, h.match) {
				attrs = append(attrs, "hint", h.hint)
				break
			}
		}
	}
	w.l.Log(context.Background(), level, msg, attrs...)
	return len(p), nil
}
