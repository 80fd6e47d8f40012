package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// ParseLevel maps EFM's efm.loglevel values (TRACE, DEBUG, INFO, WARN,
// ERROR; Java's FINE/FINEST/CONFIG/SEVERE/WARNING accepted too, since old
// EFM files carry them) onto slog levels. TRACE has no slog level of its
// own and logs as DEBUG-4.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "TRACE", "FINEST", "FINER":
		return slog.LevelDebug - 4, nil
	case "DEBUG", "FINE", "CONFIG":
		return slog.LevelDebug, nil
	case "", "INFO":
		return slog.LevelInfo, nil
	case "WARN", "WARNING":
		return slog.LevelWarn, nil
	case "ERROR", "SEVERE":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("efm.loglevel=%q: want TRACE, DEBUG, INFO, WARN or ERROR", s)
}

// OpenLog builds the agent's logger: text to stderr and, when logDir is not
// empty, to <logDir>/<cluster>.log. The returned closer closes the file.
func OpenLog(stderr io.Writer, level slog.Level, logDir, cluster string) (*slog.Logger, io.Closer, error) {
	opts := &slog.HandlerOptions{Level: level}
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
