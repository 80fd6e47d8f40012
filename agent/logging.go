package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/openefm/efm/internal/config"
)

// OpenLog builds the agent's logger: text to stderr and, when logDir is not
// empty, to <logDir>/<cluster>.log. The returned closer closes the file.
// level is efm.loglevel as the configuration decoded it.
func OpenLog(stderr io.Writer, level slog.Level, logDir, cluster string) (*slog.Logger, io.Closer, error) {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: levelName}
	handlers := []slog.Handler{slog.NewTextHandler(stderr, opts)}
	var closer io.Closer = io.NopCloser(nil)
	if logDir != "" {
		if err := os.MkdirAll(logDir, 0o755); err != nil {
			return nil, nil, fmt.Errorf("creating log.dir %s: %w", logDir, err)
		}
		path := filepath.Join(logDir, cluster+".log")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return nil, nil, fmt.Errorf("opening log file %s: %w", path, err)
		}
		handlers = append(handlers, slog.NewTextHandler(f, opts))
		closer = f
	}
	return slog.New(fanout(handlers)), closer, nil
}

// levelName writes a record's level as efm.loglevel names it. slog has no
// TRACE and would write config.LevelTrace as the number "DEBUG-4"; its
// other names (DEBUG, INFO, WARN, ERROR) are already efm.loglevel's.
func levelName(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.LevelKey && len(groups) == 0 {
		if l, ok := a.Value.Any().(slog.Level); ok && l == config.LevelTrace {
			a.Value = slog.StringValue("TRACE")
		}
	}
	return a
}

// fanout sends every record to each handler that accepts its level.
type fanout []slog.Handler

func (f fanout) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range f {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range f {
		if h.Enabled(ctx, r.Level) {
			errs = append(errs, h.Handle(ctx, r.Clone()))
		}
	}
	return errors.Join(errs...)
}

func (f fanout) WithAttrs(as []slog.Attr) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithAttrs(as)
	}
	return out
}

func (f fanout) WithGroup(name string) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithGroup(name)
	}
	return out
}
