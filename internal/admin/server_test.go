package admin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func startServer(t *testing.T, h Handler) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "efm.sock")
	s, err := Listen(path, h, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go s.Serve(ctx)
	t.Cleanup(func() { cancel(); s.Close() })
	return path
}

func TestRoundTrip(t *testing.T) {
	path := startServer(t, HandlerFunc(func(ctx context.Context, req Request) (any, error) {
		switch req.(type) {
		case NodeStatusRequest:
			return NodeStatus{Type: "Standby", Address: "10.0.0.2", DB: "UP", VIPActive: "false"}, nil
		default:
			return nil, errors.New("unknown command " + req.Command())
		}
	}))
	resp, err := Call(context.Background(), "efm", path, NodeStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var ns NodeStatus
	if err := resp.Decode(&ns); err != nil {
		t.Fatal(err)
	}
	if ns.Type != "Standby" || ns.Address != "10.0.0.2" {
		t.Fatalf("got %+v", ns)
	}
	resp, err = Call(context.Background(), "efm", path, ResumeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.OK || resp.Error != "unknown command resume" {
		t.Fatalf("want error response, got %+v", resp)
	}
}

func TestSocketMode(t *testing.T) {
	path := startServer(t, HandlerFunc(func(context.Context, Request) (any, error) { return nil, nil }))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o660 {
		t.Fatalf("socket mode %o, want 660", perm)
	}
}

func TestNoAgent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.sock")
	_, err := Call(context.Background(), "prod", path, NodeStatusRequest{})
	if !errors.Is(err, ErrNoAgent) {
		t.Fatalf("want ErrNoAgent, got %v", err)
	}
	var nae *NoAgentError
	if !errors.As(err, &nae) || nae.Socket != path || nae.Cluster != "prod" {
		t.Fatalf("error does not name cluster and socket: %v", err)
	}
}
