package pg

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRefused(t *testing.T) {
	d, err := New(Config{Host: "127.0.0.1", Port: closedPort(t), User: "u", Database: "d", ConnectTimeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Probe(context.Background()); !Refused(err) {
		t.Errorf("probe of a closed port: Refused(%v) = false, want true", err)
	}
	sock := t.TempDir()
	d, err = New(Config{Host: sock, Port: 5432, User: "u", Database: "d", ConnectTimeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Probe(context.Background()); !Refused(err) {
		t.Errorf("probe of a missing unix socket: Refused(%v) = false, want true", err)
	}
	// Something listens but does not answer: in doubt, not refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d, err = New(Config{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, User: "u", Database: "d", ConnectTimeout: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Probe(context.Background()); err == nil || Refused(err) {
		t.Errorf("probe of a silent server: Refused(%v) = true, want false", err)
	}
	// A missing password file is not a missing socket.
	if Refused(&os.PathError{Op: "open", Path: "/nonexistent/.pgpass", Err: syscall.ENOENT}) {
		t.Error("a missing file that is not a socket counted as refused")
	}
}

// fakeServer runs a process named comm (a copy of sleep) in dir.
func fakeServer(t *testing.T, comm, dir string) int {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	bin := filepath.Join(t.TempDir(), comm)
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "600")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

// TestPostmasterGone: only certainty counts as gone.
func TestPostmasterGone(t *testing.T) {
	dataDir := func(t *testing.T, pidFile string) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if pidFile != "" {
			if err := os.WriteFile(filepath.Join(dir, "postmaster.pid"), []byte(pidFile), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	// A pid that certainly is no process: a child that exited and was reaped.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPid := dead.Process.Pid
	pidLine := func(pid int, dir string) string { return strconv.Itoa(pid) + "\n" + dir + "\n" }

	cases := []struct {
		name string
		dir  func(t *testing.T) string
		want bool
	}{
		{"no db.data.dir", func(*testing.T) string { return "" }, false},
		{"no data directory here", func(t *testing.T) string { return t.TempDir() }, false},
		{"no postmaster.pid", func(t *testing.T) string { return dataDir(t, "") }, true},
		{"empty pid file", func(t *testing.T) string { return dataDir(t, "\n") }, false},
		{"pid of no process", func(t *testing.T) string { return dataDir(t, pidLine(deadPid, "x")) }, true},
		{"pid reused by another program", func(t *testing.T) string {
			d := dataDir(t, "")
			pid := fakeServer(t, "sleep", d)
			return dataDir(t, pidLine(pid, d))
		}, true},
		{"pid reused by another cluster's postgres", func(t *testing.T) string {
			pid := fakeServer(t, "postgres", t.TempDir())
			return dataDir(t, pidLine(pid, "x"))
		}, true},
		{"postmaster of this data directory", func(t *testing.T) string {
			d := dataDir(t, "")
			pid := fakeServer(t, "postgres", d)
			if err := os.WriteFile(filepath.Join(d, "postmaster.pid"), []byte(pidLine(pid, d)), 0o600); err != nil {
				t.Fatal(err)
			}
			return d
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := New(Config{Host: "127.0.0.1", User: "u", Database: "d", DataDir: c.dir(t)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			gone, why := d.PostmasterGone(context.Background())
			if gone != c.want {
				t.Errorf("PostmasterGone = %v (%s), want %v", gone, why, c.want)
			}
			if why == "" {
				t.Error("no reason given")
			}
		})
	}
}

// TestPostmasterGoneRealServer: a running server is not gone, a killed
// postmaster is, and a pg_ctl restart shows no postmaster for at most a
// moment (printed: the core needs GoneChecks checks, a local.period apart,
// before it acts on it).
func TestPostmasterGoneRealServer(t *testing.T) {
	requirePG(t)
	a := startPrimary(t, baseDir(t), "gone")
	ctx := context.Background()
	if gone, why := a.db.PostmasterGone(ctx); gone {
		t.Fatalf("running server: gone (%s)", why)
	}
	// Sample through a restart: the longest run of samples that found
	// the server certainly gone.
	stop := make(chan struct{})
	done := make(chan time.Duration)
	probe := a.newDB(func(c *Config) { c.ConnectTimeout = time.Second })
	go func() {
		var longest time.Duration
		var since time.Time
		for {
			select {
			case <-stop:
				done <- longest
				return
			default:
			}
			_, err := probe.Probe(ctx)
			gone := false
			if err != nil && Refused(err) {
				gone, _ = probe.PostmasterGone(ctx)
			}
			switch {
			case gone && since.IsZero():
				since = time.Now()
			case gone:
				longest = max(longest, time.Since(since))
			default:
				since = time.Time{}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	a.pgctl("-m", "fast", "-w", "-l", a.dir+".log", "restart")
	close(stop)
	t.Logf("measured: during pg_ctl restart the server looked certainly gone for at most %v in a row", <-done)

	b, err := os.ReadFile(filepath.Join(a.dir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the killed postmaster to count as gone", func() (bool, error) {
		_, err := probe.Probe(ctx)
		if !Refused(err) {
			return false, err
		}
		gone, why := probe.PostmasterGone(ctx)
		t.Logf("after kill -9: %v (%s)", gone, why)
		return gone, nil
	})
}
