package hooks

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordHandler keeps every log record so tests can poll for one.
type recordHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// has reports whether a record at level whose message contains msg was logged.
func (h *recordHandler) has(level slog.Level, msg string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.records {
		if r.Level == level && strings.Contains(r.Message, msg) {
			return true
		}
	}
	return false
}

// text renders every record with its attributes, for "never logged" checks.
func (h *recordHandler) text() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, r := range h.records {
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			b.WriteString(" " + a.Key + "=" + a.Value.Resolve().String())
			return true
		})
		b.WriteString("\n")
	}
	return b.String()
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// script writes an executable POSIX sh script into a temp dir.
func script(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func newRunner(t *testing.T) (*Runner, *recordHandler) {
	t.Helper()
	h := &recordHandler{}
	return &Runner{
		Logger:         slog.New(h),
		Cluster:        "efm",
		Node:           "10.0.0.1",
		VIP:            "10.0.0.100",
		DBServiceOwner: "postgres",
		Timeout:        30 * time.Second,
		SlowThreshold:  -1,
		Environ:        []string{"PATH=" + os.Getenv("PATH"), "EFM_CLUSTER=inherited", "EFM_STALE=1"},
	}, h
}
