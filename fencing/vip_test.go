package fencing

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// vipAddrs lists the addresses equal to ip on eth0 of the current namespace.
func vipAddrs(t *testing.T, ip string) []netlink.Addr {
	t.Helper()
	link, err := netlink.LinkByName("eth0")
	if err != nil {
		t.Errorf("eth0: %v", err)
		return nil
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		t.Errorf("listing addresses: %v", err)
		return nil
	}
	var out []netlink.Addr
	for _, a := range addrs {
		if a.IP.Equal(net.ParseIP(ip)) {
			out = append(out, a)
		}
	}
	return out
}

func TestAcquireReleaseIdempotent(t *testing.T) {
	needPing(t)
	l := newLab(t, 1)
	tests := []struct {
		name, vip  string
		prefix     int
		wantPrefix int
		wantLabel  string
	}{
		{"ipv4 default prefix", l.ip4(100), 0, 32, "eth0:vip"},
		{"ipv4 /24", l.ip4(101), 24, 24, "eth0:vip"},
		{"ipv6 default prefix", l.ip6(100), 0, 128, ""},
		{"ipv6 /64", l.ip6(101), 64, 64, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in(l, l.nodes[0], func() struct{} {
				ctx := context.Background()
				m, err := NewManager(Config{VirtualIP: tc.vip, Interface: "eth0", Prefix: tc.prefix, AnnounceCount: 1})
				if err != nil {
					t.Errorf("NewManager: %v", err)
					return struct{}{}
				}
				if held, err := m.Held(ctx); err != nil || held {
					t.Errorf("Held before Acquire = %v, %v; want false, nil", held, err)
				}
				for i := 0; i < 2; i++ { // the second Acquire must be a no-op, not EEXIST
					done, err := m.Acquire(ctx)
					if err != nil {
						t.Errorf("Acquire #%d: %v", i+1, err)
						return struct{}{}
					}
					if err := <-done; err != nil {
						t.Errorf("announcement #%d: %v", i+1, err)
					}
				}
				addrs := vipAddrs(t, tc.vip)
				if len(addrs) != 1 {
					t.Errorf("after two Acquires: %d addresses %v, want exactly 1", len(addrs), addrs)
				} else {
					a := addrs[0]
					if ones, _ := a.Mask.Size(); ones != tc.wantPrefix {
						t.Errorf("prefix = %d, want %d", ones, tc.wantPrefix)
					}
					if a.Label != tc.wantLabel && tc.wantLabel != "" {
						t.Errorf("label = %q, want %q", a.Label, tc.wantLabel)
					}
					if a.Flags&unix.IFA_F_TENTATIVE != 0 {
						t.Errorf("VIP is tentative (flags %#x): duplicate address detection was not skipped", a.Flags)
					}
				}
				if held, err := m.Held(ctx); err != nil || !held {
					t.Errorf("Held after Acquire = %v, %v; want true, nil", held, err)
				}
				for i := 0; i < 2; i++ { // releasing an absent VIP is fine
					if err := m.Release(ctx); err != nil {
						t.Errorf("Release #%d: %v", i+1, err)
					}
				}
				if n := len(vipAddrs(t, tc.vip)); n != 0 {
					t.Errorf("after Release: %d addresses left", n)
				}
				if held, err := m.Held(ctx); err != nil || held {
					t.Errorf("Held after Release = %v, %v; want false, nil", held, err)
				}
				return struct{}{}
			})
		})
	}
}

// A VIP added by hand with another prefix and label (an operator, an old
// agent version) must still be released.
func TestReleaseRemovesForeignPrefix(t *testing.T) {
	needPing(t)
	l := newLab(t, 1)
	vip := l.ip4(102)
	run(t, "-n", l.nodes[0], "addr", "add", vip+"/28", "dev", "eth0", "label", "eth0:x")
	in(l, l.nodes[0], func() struct{} {
		m, err := NewManager(Config{VirtualIP: vip, Interface: "eth0"})
		if err != nil {
			t.Errorf("NewManager: %v", err)
			return struct{}{}
		}
		if err := m.Release(context.Background()); err != nil {
			t.Errorf("Release: %v", err)
		}
		if n := len(vipAddrs(t, vip)); n != 0 {
			t.Errorf("after Release: %d addresses left", n)
		}
		return struct{}{}
	})
}

func TestReleaseWaits(t *testing.T) {
	needPing(t)
	l := newLab(t, 1)
	vip := l.ip4(103)
	in(l, l.nodes[0], func() struct{} {
		m, err := NewManager(Config{VirtualIP: vip, Interface: "eth0", AnnounceCount: 1,
			ReleasePreWait: 300 * time.Millisecond, ReleasePostWait: 200 * time.Millisecond})
		if err != nil {
			t.Errorf("NewManager: %v", err)
			return struct{}{}
		}
		ctx := context.Background()
		if _, err := m.Acquire(ctx); err != nil {
			t.Errorf("Acquire: %v", err)
			return struct{}{}
		}
		start := time.Now()
		if err := m.Release(ctx); err != nil {
			t.Errorf("Release: %v", err)
		}
		if took := time.Since(start); took < 500*time.Millisecond {
			t.Errorf("Release took %s, want at least pre.wait+post.wait = 500ms", took)
		}
		// A cancelled context cuts the pre-wait short and leaves the VIP.
		if _, err := m.Acquire(ctx); err != nil {
			t.Errorf("Acquire: %v", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := m.Release(cctx); err == nil {
			t.Errorf("Release with a cancelled context: nil error")
		}
		if held, _ := m.Held(ctx); !held {
			t.Errorf("Release with a cancelled context dropped the VIP anyway")
		}
		return struct{}{}
	})
}

func TestSolicitedNode(t *testing.T) {
	if got := solicitedNode(net.ParseIP("fd00:231:40::1:2345")).String(); got != "ff02::1:ff01:2345" {
		t.Errorf("solicitedNode = %s, want ff02::1:ff01:2345", got)
	}
}

// Releasing must stop the announcements of the last Acquire, or they
// would pull clients back from the VIP's next holder.
func TestReleaseStopsAnnouncements(t *testing.T) {
	needPing(t)
	l := newLab(t, 1)
	in(l, l.nodes[0], func() struct{} {
		m, err := NewManager(Config{VirtualIP: l.ip4(105), Interface: "eth0", AnnounceCount: 1000, AnnounceInterval: time.Hour})
		must(t, err)
		ctx := context.Background()
		done, err := m.Acquire(ctx)
		must(t, err)
		must(t, m.Release(ctx))
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("announcements still running 10s after Release")
		}
		return struct{}{}
	})
}
