package membership

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// newMemberlistLogger bridges memberlist's "[LEVEL] memberlist: msg"
// lines into slog at the matching level, so a key mismatch or a refused
// packet shows up as a warning or error in the agent's log.
func newMemberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(&mlWriter{l: l.With("component", "memberlist")}, "", 0)
}

type mlWriter struct{ l *slog.Logger }

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

func (w *mlWriter) Write(p []byte) (int, error) {
	msg := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for _, l := range levels {
		if bytes.HasPrefix(msg, []byte(l.tag)) {
			level, msg = l.level, msg[len(l.tag):]
			break
		}
	}
	msg = bytes.TrimPrefix(msg, []byte("memberlist: "))
	w.l.Log(context.Background(), level, string(msg))
	return len(p), nil
}
