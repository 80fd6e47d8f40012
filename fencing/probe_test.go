package fencing

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "probe.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewManagerRejectsMissingPing(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "ping")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, cmd, mention string
	}{
		{"missing binary", "/nonexistent/efm-test/ping -q -c3 -w5", "/nonexistent/efm-test/ping"},
		{"directory", dir + " -c1", dir},
		{"not executable", notExec + " -c1", notExec},
		{"not in PATH", "efm-test-no-such-ping -c1", "efm-test-no-such-ping"},
		{"blank", "   ", "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewManager(Config{PingCommand: tc.cmd})
			if err == nil {
				t.Fatalf("NewManager(PingCommand=%q) succeeded; every probe would fail and read as \"VIP free\"", tc.cmd)
			}
			for _, want := range []string{"ping.server.command", tc.mention} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestNewManagerConfigErrors(t *testing.T) {
	ping := script(t, "exit 0")
	tests := []struct {
		name    string
		cfg     Config
		mention string
	}{
		{"vip without interface", Config{VirtualIP: "10.231.40.100"}, "virtual.ip.interface is required"},
		{"alias suffix", Config{VirtualIP: "10.231.40.100", Interface: "eth0:1"}, "virtual.ip.interface=eth0:1"},
		{"ipv4 prefix too long", Config{VirtualIP: "10.231.40.100", Interface: "lo", Prefix: 33}, "virtual.ip.prefix=33"},
		{"ipv6 prefix too long", Config{VirtualIP: "fd00:231:40::100", Interface: "lo", Prefix: 129}, "virtual.ip.prefix=129"},
		{"negative wait", Config{VirtualIP: "10.231.40.100", Interface: "lo", ReleasePreWait: -time.Second}, "release.vip.pre.wait"},
		{"no such interface", Config{VirtualIP: "10.231.40.100", Interface: "efmnosuch0"}, "virtual.ip.interface=efmnosuch0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.PingCommand = ping
			_, err := NewManager(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("NewManager(%+v) error = %v, want one mentioning %q", tc.cfg, err, tc.mention)
			}
		})
	}
	if _, err := NewManager(Config{PingCommand: ping}); err != nil {
		t.Errorf("NewManager without a VIP: %v", err)
	}
}

// TestReachableExitStatus: 0 is reachable and 1 is "no reply", as ping(8)
// reports them; any other status (ping exits 2 for "Network is
// unreachable", which an isolated node sees) or a signal is a probe that
// failed, and the VIP is then in doubt, never free.
func TestReachableExitStatus(t *testing.T) {
	tests := []struct {
		name, body string
		want       bool
		doubt      bool
	}{
		{"exit 0 is reachable", `exit 0`, true, false},
		{"exit 1 is unreachable", `exit 1`, false, false},
		{"exit 2 is a failed probe", `echo "ping: connect: Network is unreachable"; exit 2`, false, true},
		{"exit 127 is a failed probe", `exit 127`, false, true},
		{"killed by a signal is a failed probe", `kill -KILL $$`, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := script(t, `echo "$@" > "$(dirname "$0")/args"; `+tc.body)
			m, err := NewManager(Config{PingCommand: p + " -q -c1"})
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Reachable(context.Background(), "10.231.40.9")
			if got != tc.want || (err != nil) != tc.doubt {
				t.Errorf("Reachable = %v, %v; want %v and an error: %v", got, err, tc.want, tc.doubt)
			}
			free, ferr := m.VIPFree(context.Background(), "10.231.40.9")
			if want := !tc.want && !tc.doubt; free != want || (ferr != nil) != tc.doubt {
				t.Errorf("VIPFree = %v, %v; want %v and an error: %v", free, ferr, want, tc.doubt)
			}
			if tc.doubt && !strings.Contains(err.Error(), "ping.server.command") {
				t.Errorf("error %q does not name ping.server.command", err)
			}
			args, err := os.ReadFile(filepath.Join(filepath.Dir(p), "args"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(args)) != "-q -c1 10.231.40.9" {
				t.Errorf("command got %q, want the target appended: %q", args, "-q -c1 10.231.40.9")
			}
		})
	}
}

func TestReachableDeadline(t *testing.T) {
	tests := []struct{ name, body string }{
		{"command hangs", "exec sleep 30"},
		// The shell's child keeps the output pipe open after the shell is
		// killed; WaitDelay must still end the wait.
		{"grandchild holds the pipe", "sleep 30; exit 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewManager(Config{PingCommand: script(t, tc.body), PingTimeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			got, err := m.Reachable(context.Background(), "10.231.40.9")
			t.Logf("returned after %s", time.Since(start))
			if got || !errors.Is(err, ErrProbeTimeout) {
				t.Errorf("Reachable = %v, %v; want false, ErrProbeTimeout", got, err)
			}
			// A probe that never answers is doubt: the VIP check must not
			// read it as free.
			free, err := m.CheckVIPFree(context.Background(), "10.231.40.9", 0)
			if free || !errors.Is(err, ErrProbeTimeout) {
				t.Errorf("CheckVIPFree = %v, %v; want false and an error wrapping ErrProbeTimeout", free, err)
			}
		})
	}
	t.Run("caller cancels", func(t *testing.T) {
		m, err := NewManager(Config{PingCommand: script(t, "exec sleep 30")})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		got, err := m.Reachable(ctx, "10.231.40.9")
		if got || !errors.Is(err, context.Canceled) {
			t.Errorf("Reachable = %v, %v; want false, context.Canceled", got, err)
		}
	})
}

func TestCheckVIPFree(t *testing.T) {
	needPing(t)
	l := newLab(t, 2)
	holder, checker := l.nodes[0], l.nodes[1]
	tests := []struct {
		name, vip string
		check     VIPCheck
	}{
		{"ipv4 ping", l.ip4(110), VIPCheckPing},
		{"ipv4 arp+ping", l.ip4(111), VIPCheckARPAndPing},
		{"ipv4 arp", l.ip4(112), VIPCheckARP},
		{"ipv6 ping", l.ip6(110), VIPCheckPing},
		{"ipv6 arp falls back to ping", l.ip6(111), VIPCheckARP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := Config{VirtualIP: tc.vip, Interface: "eth0", PingCommand: "/bin/ping -q -c1 -W1",
				VIPCheck: tc.check, ARPProbeWait: 300 * time.Millisecond, AnnounceCount: 1, Logger: testLogger(t)}
			mh := in(l, holder, func() *Manager { m, err := NewManager(cfg); must(t, err); return m })
			mc := in(l, checker, func() *Manager { m, err := NewManager(cfg); must(t, err); return m })
			in(l, holder, func() error { _, err := mh.Acquire(ctx); must(t, err); return nil })
			t.Cleanup(func() { exec.Command("ip", "-n", holder, "addr", "flush", "to", tc.vip).Run() })

			type res struct {
				free bool
				err  error
				took time.Duration
			}
			check := func(timeout time.Duration) res {
				return in(l, checker, func() res {
					start := time.Now()
					free, err := mc.CheckVIPFree(ctx, tc.vip, timeout)
					return res{free, err, time.Since(start)}
				})
			}
			if r := check(time.Second); r.free || r.err != nil {
				t.Errorf("while held: CheckVIPFree = %v, %v; want false, nil", r.free, r.err)
			} else {
				t.Logf("held: reported not free after %s", r.took)
			}

			// Released while the checker keeps probing.
			// (Release itself is tested elsewhere; `in` must not run off
			// the test goroutine, so drop the address with ip.)
			time.AfterFunc(1500*time.Millisecond, func() {
				if out, err := exec.Command("ip", "-n", holder, "addr", "flush", "to", tc.vip).CombinedOutput(); err != nil {
					t.Errorf("releasing %s in %s: %v\n%s", tc.vip, holder, err, out)
				}
			})
			if r := check(20 * time.Second); !r.free || r.err != nil {
				t.Errorf("released during the check: CheckVIPFree = %v, %v; want true, nil", r.free, r.err)
			} else {
				t.Logf("released 1.5s into the check: reported free after %s", r.took)
			}
			if r := check(0); !r.free || r.err != nil {
				t.Errorf("released: CheckVIPFree = %v, %v; want true, nil", r.free, r.err)
			} else {
				t.Logf("released: one round reported free after %s", r.took)
			}
		})
	}
}

// TestRealPingExitStatus runs /bin/ping itself in a namespace with no
// default route, as a candidate cut off from its network: an address on the
// link that nobody holds gets "no reply" (exit 1, free), but one it has no
// route to gets "Network is unreachable" (exit 2), which says nothing about
// who holds it and must be doubt, never free.
func TestRealPingExitStatus(t *testing.T) {
	needPing(t)
	l := newLab(t, 2)
	node := l.nodes[0]
	m := in(l, node, func() *Manager {
		m, err := NewManager(Config{PingCommand: "/bin/ping -q -n -c1 -w1", Logger: testLogger(t)})
		must(t, err)
		return m
	})
	tests := []struct {
		name, target string
		reachable    bool
		doubt        bool
	}{
		{"peer answers", l.ip4(12), true, false},
		{"free address on the link", l.ip4(99), false, false},
		{"no route (isolated)", "10.231.250.1", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			type res struct {
				reachable, free bool
				err, ferr       error
			}
			r := in(l, node, func() res {
				ok, err := m.Reachable(context.Background(), tc.target)
				free, ferr := m.VIPFree(context.Background(), tc.target)
				return res{ok, free, err, ferr}
			})
			if r.reachable != tc.reachable || (r.err != nil) != tc.doubt {
				t.Errorf("Reachable(%s) = %v, %v; want %v and an error: %v", tc.target, r.reachable, r.err, tc.reachable, tc.doubt)
			}
			if tc.doubt && !errors.Is(r.err, ErrProbeFailed) {
				t.Errorf("Reachable(%s) error %v; want ErrProbeFailed", tc.target, r.err)
			}
			if want := !tc.reachable && !tc.doubt; r.free != want || (r.ferr != nil) != tc.doubt {
				t.Errorf("VIPFree(%s) = %v, %v; want %v and an error: %v", tc.target, r.free, r.ferr, want, tc.doubt)
			}
			if r.err != nil {
				t.Logf("in doubt: %v", r.err)
			}
		})
	}
}

func TestProbeARP(t *testing.T) {
	l := newLab(t, 2)
	holder, prober := l.nodes[0], l.nodes[1]
	vip := l.ip4(120)
	holderMAC := l.mac(holder)
	probe := func() (net.HardwareAddr, error, time.Duration) {
		type r struct {
			mac  net.HardwareAddr
			err  error
			took time.Duration
		}
		got := in(l, prober, func() r {
			ifi, err := net.InterfaceByName("eth0")
			must(t, err)
			start := time.Now()
			mac, err := ProbeARP(context.Background(), ifi, net.ParseIP(vip), 500*time.Millisecond)
			return r{mac, err, time.Since(start)}
		})
		return got.mac, got.err, got.took
	}
	if mac, err, took := probe(); err != nil || mac != nil {
		t.Errorf("nobody holds %s: ProbeARP = %s, %v; want nil, nil", vip, mac, err)
	} else {
		t.Logf("free: no answer, returned after %s", took)
	}
	run(t, "-n", holder, "addr", "add", vip+"/32", "dev", "eth0")
	if mac, err, took := probe(); err != nil || !bytes.Equal(mac, holderMAC) {
		t.Errorf("held by %s: ProbeARP = %s, %v; want the holder's MAC", holderMAC, mac, err)
	} else {
		t.Logf("held: answer from %s after %s", mac, took)
	}
	// The probe claims nothing (sender address 0.0.0.0): had it carried the
	// prober's own address, the holder would have cached the prober.
	if mac, _ := l.neighbour(holder, net.ParseIP(l.ip4(12))); mac != nil {
		t.Errorf("holder learnt the prober's address from the probe: %s", mac)
	}
	in(l, prober, func() error {
		ifi, err := net.InterfaceByName("eth0")
		must(t, err)
		if _, err := ProbeARP(context.Background(), ifi, net.ParseIP(l.ip6(120)), time.Second); err == nil {
			t.Errorf("ProbeARP accepted an IPv6 address")
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := ProbeARP(ctx, ifi, net.ParseIP(l.ip4(121)), time.Second); !errors.Is(err, context.Canceled) {
			t.Errorf("ProbeARP with a cancelled context = %v, want context.Canceled (not \"free\")", err)
		}
		return nil
	})
}

func TestResolveHostName(t *testing.T) {
	ping := script(t, "exit 0")
	m, err := NewManager(Config{VirtualIP: "localhost", Interface: "lo", PingCommand: ping})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.ResolveVIP(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != "127.0.0.1/32" {
		t.Errorf("ResolveVIP(localhost) = %s, want 127.0.0.1/32 (IPv4 preferred, default prefix)", got)
	}
	m, err = NewManager(Config{VirtualIP: "efm-no-such-host.invalid", Interface: "lo", PingCommand: ping})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.ResolveVIP(context.Background()); err == nil || !strings.Contains(err.Error(), "virtual.ip=efm-no-such-host.invalid") {
		t.Errorf("ResolveVIP of an unknown name: %v, want an error naming virtual.ip", err)
	}
}

func TestReleaseAsyncDeliversResult(t *testing.T) {
	m, err := NewManager(Config{VirtualIP: "10.231.40.100", Interface: "lo", PingCommand: script(t, "exit 0"), ReleasePreWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := m.ReleaseAsync(ctx)
	cancel() // ends the pre-wait before anything is touched
	if err := <-ch; !errors.Is(err, context.Canceled) {
		t.Errorf("ReleaseAsync result = %v, want context.Canceled", err)
	}
	if _, open := <-ch; open {
		t.Errorf("ReleaseAsync channel not closed after its result")
	}
}

func TestSelfTest(t *testing.T) {
	tests := []struct {
		name, cmd string
		timeout   time.Duration
		ok        bool
	}{
		{"working ping", "", 5 * time.Second, true},
		{"command that always fails", "exit 2", time.Second, false},
		{"command that hangs", "exec sleep 30", 300 * time.Millisecond, false}, // killed at PingTimeout
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := "/bin/ping -q -c1 -W1"
			if tc.cmd != "" {
				cmd = script(t, tc.cmd)
			} else {
				needPing(t) // pings 127.0.0.1 only
			}
			m, err := NewManager(Config{PingCommand: cmd, PingTimeout: tc.timeout})
			if err != nil {
				t.Fatal(err)
			}
			err = m.SelfTest(context.Background())
			if (err == nil) != tc.ok {
				t.Errorf("SelfTest = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "ping.server.command") {
				t.Errorf("error %q does not name ping.server.command", err)
			}
		})
	}
}

func TestNoVIPConfigured(t *testing.T) {
	m, err := NewManager(Config{PingCommand: script(t, "exit 0")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	done, err := m.Acquire(ctx)
	if err != nil {
		t.Errorf("Acquire without a VIP: %v", err)
	} else if _, open := <-done; open {
		t.Errorf("Acquire without a VIP: channel not closed")
	}
	if held, err := m.Held(ctx); held || err != nil {
		t.Errorf("Held without a VIP = %v, %v; want false, nil", held, err)
	}
	if err := m.Release(ctx); err != nil {
		t.Errorf("Release without a VIP: %v", err)
	}
}

func TestParseVIPCheck(t *testing.T) {
	for _, v := range []VIPCheck{VIPCheckPing, VIPCheckARPAndPing, VIPCheckARP} {
		got, err := ParseVIPCheck(v.String())
		if err != nil || got != v {
			t.Errorf("ParseVIPCheck(%q) = %v, %v; want %v", v.String(), got, err, v)
		}
	}
	if _, err := ParseVIPCheck("icmp"); err == nil {
		t.Errorf("ParseVIPCheck(icmp) accepted")
	}
	if _, err := NewManager(Config{PingCommand: script(t, "exit 0"), VIPCheck: VIPCheckARP}); err == nil {
		t.Errorf("NewManager accepted an ARP check without an interface")
	}
}
