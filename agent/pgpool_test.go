package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/pgpool"
)

// fakePgpool behaves as Pgpool-II 4.3 does for the PCP commands the agent
// runs: a command is queued and carried out `lag` looks later; promoting a
// backend marks every other one down (follow degeneration).
type fakePgpool struct {
	mu      sync.Mutex
	nodes   map[string]*pgpool.Node
	lag     int
	queued  []func()
	wait    []int // looks left before each queued change applies
	calls   []string
	failing error
	// failLooks makes the next looks fail as Pgpool does while it
	// restarts its PCP worker ("unable to read data from socket").
	failLooks int
}

func newFakePgpool(lag int, primary string, hosts ...string) *fakePgpool {
	f := &fakePgpool{nodes: map[string]*pgpool.Node{}, lag: lag}
	for i, h := range hosts {
		role := "standby"
		if h == primary {
			role = "primary"
		}
		f.nodes[h] = &pgpool.Node{ID: i, Hostname: h, Port: 5432, Status: pgpool.StatusPooled, Role: role}
	}
	return f
}

func (f *fakePgpool) Backend(_ context.Context, host string, _ int) (pgpool.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.wait {
		f.wait[i]--
	}
	for len(f.wait) > 0 && f.wait[0] <= 0 {
		f.queued[0]()
		f.queued, f.wait = f.queued[1:], f.wait[1:]
	}
	if f.failing != nil {
		return pgpool.Node{}, f.failing
	}
	if f.failLooks > 0 {
		f.failLooks--
		return pgpool.Node{}, errors.New("pcp_node_info: exit status 1: ERROR: unable to read data from socket")
	}
	n, ok := f.nodes[host]
	if !ok {
		return pgpool.Node{}, errors.New("no Pgpool backend is node " + host)
	}
	return *n, nil
}

func (f *fakePgpool) queue(call, host string, change func(n *pgpool.Node)) (pgpool.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call+" "+host)
	n := f.nodes[host]
	f.queued = append(f.queued, func() { change(n) })
	f.wait = append(f.wait, f.lag)
	return *n, nil
}

func (f *fakePgpool) Attach(_ context.Context, host string, _ int) (pgpool.Node, error) {
	return f.queue("attach", host, func(n *pgpool.Node) { n.Status = pgpool.StatusUp })
}

func (f *fakePgpool) Detach(_ context.Context, host string, _ int) (pgpool.Node, error) {
	return f.queue("detach", host, func(n *pgpool.Node) { n.Status = pgpool.StatusDown })
}

func (f *fakePgpool) Promote(_ context.Context, host string, _ int) (pgpool.Node, error) {
	return f.queue("promote", host, func(n *pgpool.Node) {
		for _, o := range f.nodes {
			o.Role = "standby"
			if o != n {
				o.Status = pgpool.StatusDown
			}
		}
		n.Role, n.Status = "primary", pgpool.StatusPooled
	})
}

func (f *fakePgpool) state() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for h, n := range f.nodes {
		out[h] = n.Status.String() + " " + n.Role
	}
	return out
}

func testPgpoolShell(f *fakePgpool) *pgpoolShell {
	return &pgpoolShell{c: f, port: 5432, log: slog.New(slog.NewTextHandler(io.Discard, nil)), poll: time.Millisecond}
}

// A failover as the agents carry it out: the new primary detaches the dead
// one and promotes itself; the other standby attaches itself, waiting for
// Pgpool to name the new primary (the promote marks it down). Each action
// returns only once Pgpool shows it done, not when the PCP command
// returns.
func TestPgpoolShellFailover(t *testing.T) {
	f := newFakePgpool(3, "10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.3")
	p := testPgpoolShell(f)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// The standby's attach starts first and must wait for the promote.
	attached := make(chan error, 1)
	go func() {
		attached <- p.do(ctx, core.Pgpool{Op: core.PgpoolAttach, Node: "10.0.0.3", Primary: "10.0.0.2"})
	}()
	if err := p.do(ctx, core.Pgpool{Op: core.PgpoolDetach, Node: "10.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if got := f.state()["10.0.0.1"]; got != "down standby" && got != "down primary" {
		t.Errorf("detach returned with 10.0.0.1 %s, want down", got)
	}
	if err := p.do(ctx, core.Pgpool{Op: core.PgpoolPromote, Node: "10.0.0.2"}); err != nil {
		t.Fatal(err)
	}
	if got := f.state()["10.0.0.2"]; got != "up primary" {
		t.Errorf("promote returned with 10.0.0.2 %s, want up primary", got)
	}
	if err := <-attached; err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"10.0.0.1": "down standby", "10.0.0.2": "up primary", "10.0.0.3": "waiting standby"}
	if got := f.state(); !mapsEqual(got, want) {
		t.Errorf("Pgpool after the failover %v, want %v", got, want)
	}
	if want := []string{"detach 10.0.0.1", "promote 10.0.0.2", "attach 10.0.0.3"}; !slices.Equal(f.calls, want) {
		t.Errorf("PCP commands %v, want %v", f.calls, want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A node already as wanted gets no PCP command (an attach of a backend
// that is up would make Pgpool fail it back, restarting its children).
func TestPgpoolShellNothingToDo(t *testing.T) {
	f := newFakePgpool(1, "10.0.0.1", "10.0.0.1", "10.0.0.2")
	p := testPgpoolShell(f)
	ctx := context.Background()
	for _, a := range []core.Pgpool{
		{Op: core.PgpoolAttach, Node: "10.0.0.2", Primary: "10.0.0.1"},
		{Op: core.PgpoolPromote, Node: "10.0.0.1"},
	} {
		if err := p.do(ctx, a); err != nil {
			t.Fatalf("%s %s: %v", a.Op, a.Node, err)
		}
	}
	if len(f.calls) != 0 {
		t.Errorf("PCP commands %v, want none", f.calls)
	}
}

// Fail closed: an action Pgpool does not carry out within the deadline,
// or a Pgpool that cannot be asked, is an error naming the node and what
// was seen last.
func TestPgpoolShellErrors(t *testing.T) {
	f := newFakePgpool(1_000_000, "10.0.0.1", "10.0.0.1", "10.0.0.2")
	p := testPgpoolShell(f)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := p.do(ctx, core.Pgpool{Op: core.PgpoolDetach, Node: "10.0.0.1"})
	if err == nil || !strings.Contains(err.Error(), "Pgpool detach of node 10.0.0.1: not done in time") || !strings.Contains(err.Error(), "backend 0 is up") {
		t.Errorf("detach never carried out: err %v", err)
	}
	f.failing = errors.New("pcp_node_count against Pgpool at 10.0.9.1:9898: exit status 1: ERROR: authentication failed")
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = p.do(ctx, core.Pgpool{Op: core.PgpoolAttach, Node: "10.0.0.2"})
	if err == nil || !strings.Contains(err.Error(), "Pgpool attach of node 10.0.0.2") || !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("Pgpool unreachable: err %v", err)
	}
}

// A PCP command that fails for a moment, as while Pgpool restarts its PCP
// worker during another agent's promote, is tried again until the
// deadline: in a real failover an attach failed that way once, and the
// standby stayed detached.
func TestPgpoolShellRetriesTransientErrors(t *testing.T) {
	f := newFakePgpool(1, "10.0.0.2", "10.0.0.1", "10.0.0.2")
	f.failLooks = 3
	p := testPgpoolShell(f)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.do(ctx, core.Pgpool{Op: core.PgpoolDetach, Node: "10.0.0.1"}); err != nil {
		t.Fatalf("detach after transient PCP errors: %v", err)
	}
	if got := f.state()["10.0.0.1"]; got != "down standby" {
		t.Errorf("10.0.0.1 is %s after the detach, want down standby", got)
	}
}
