package pg

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"
)

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return p
}

// A server that accepts TCP but never speaks (a hung host) must not hang
// the probe past ConnectTimeout.
func TestConnectDeadlineBlackHole(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // hold it open, say nothing
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	d, err := New(Config{Host: "127.0.0.1", Port: port, User: "u", Database: "d", ConnectTimeout: 300 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = d.Probe(context.Background())
	took := time.Since(start)
	t.Logf("probe of a silent server failed after %s (connect timeout 300ms): %v", took, err)
	if err == nil {
		t.Fatal("probe of a silent server succeeded")
	}
	if !isTimeout(err) {
		t.Errorf("err = %v, want a timeout", err)
	}
	if took > 5*time.Second {
		t.Errorf("probe hung for %s despite a 300ms connect timeout", took)
	}
}

// A query slower than QueryTimeout is cut off, and a frozen (SIGSTOPped)
// backend cannot hang a probe on a reused connection either.
func TestQueryDeadlines(t *testing.T) {
	requirePG(t)
	t.Parallel()
	a := startPrimary(t, baseDir(t), "a")
	ctx := context.Background()

	d := a.newDB(func(c *Config) { c.QueryTimeout = 300 * time.Millisecond; c.ReuseConnectionCount = 10 })
	start := time.Now()
	err := d.exec(ctx, "slow query", "SELECT pg_sleep(30)")
	took := time.Since(start)
	t.Logf("pg_sleep(30) with a 300ms query timeout failed after %s: %v", took, err)
	if err == nil || took > 10*time.Second {
		t.Fatalf("slow query: err = %v after %s", err, took)
	}
	if _, err := d.Probe(ctx); err != nil {
		t.Fatalf("probe after a timed-out query: %v", err)
	}

	pid := backendPID(t, d)
	if err := syscall.Kill(int(pid), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(int(pid), syscall.SIGCONT) })
	start = time.Now()
	_, err = d.Probe(ctx)
	took = time.Since(start)
	t.Logf("probe on a frozen backend (pid %d) failed after %s: %v", pid, took, err)
	if err == nil || took > 10*time.Second {
		t.Fatalf("frozen backend: err = %v after %s", err, took)
	}
	_ = syscall.Kill(int(pid), syscall.SIGCONT)
	// The broken connection was dropped; the next probe uses a new one.
	if p := backendPID(t, d); p == pid {
		t.Errorf("still on backend %d after a timed-out probe", pid)
	}

	// A stopped server: the reused connection breaks, then connecting is
	// refused; both fail at once.
	if err := a.db.Stop(ctx, StopImmediate); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		start = time.Now()
		_, err = d.Probe(ctx)
		t.Logf("probe of a stopped server failed after %s: %v", time.Since(start), err)
		if err == nil {
			t.Fatal("probe of a stopped server succeeded")
		}
	}
}
