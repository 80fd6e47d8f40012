package fencing

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestARPPacketRoundTrip(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	vip := net.ParseIP("10.231.40.100")
	b := arpPacket(arpRequest, mac, vip, nil, vip)
	if len(b) != arpLen {
		t.Fatalf("length %d, want %d", len(b), arpLen)
	}
	a, err := parseARP(b)
	if err != nil {
		t.Fatal(err)
	}
	if a.op != arpRequest || !bytes.Equal(a.sha, mac) || !a.spa.Equal(vip) || !a.tpa.Equal(vip) || !bytes.Equal(a.tha, make([]byte, 6)) {
		t.Errorf("round trip = %+v", a)
	}
	if _, err := parseARP(b[:20]); err == nil {
		t.Errorf("parseARP accepted a short packet")
	}
}

func TestNeighbourAdvertLayout(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	vip := net.ParseIP("fd00:231:40::100")
	b, err := neighbourAdvert(vip, mac)
	if err != nil {
		t.Fatal(err)
	}
	// type, code, checksum(2), flags+reserved(4), target(16), option(8)
	if len(b) != 32 {
		t.Fatalf("length %d, want 32", len(b))
	}
	if b[0] != 136 || b[1] != 0 {
		t.Errorf("type/code = %d/%d, want 136/0", b[0], b[1])
	}
	if b[4] != 0x20 {
		t.Errorf("flags = %#x, want override only (0x20)", b[4])
	}
	if !net.IP(b[8:24]).Equal(vip) {
		t.Errorf("target = %s, want %s", net.IP(b[8:24]), vip)
	}
	if b[24] != 2 || b[25] != 1 || !bytes.Equal(b[26:32], mac) {
		t.Errorf("target link-layer option = %x", b[24:32])
	}
}

// The measurement behind the feature: a client with a warm neighbour
// cache keeps sending to the old holder's MAC after the VIP moves, until
// the new holder announces it.
func TestAnnounceMovesClientNeighbourEntry(t *testing.T) {
	needPing(t)
	for _, fam := range []string{"ipv4", "ipv6"} {
		t.Run(fam, func(t *testing.T) {
			l := newLab(t, 3)
			old, nw, client := l.nodes[0], l.nodes[1], l.nodes[2]
			vip := l.ip4(100)
			if fam == "ipv6" {
				vip = l.ip6(100)
			}
			vipIP := net.ParseIP(vip)
			oldMAC, newMAC := l.mac(old), l.mac(nw)
			ctx := context.Background()
			cfg := Config{VirtualIP: vip, Interface: "eth0", AnnounceCount: 3, AnnounceInterval: 200 * time.Millisecond}

			mOld := in(l, old, func() *Manager { m, err := NewManager(cfg); must(t, err); return m })
			mNew := in(l, nw, func() *Manager { m, err := NewManager(cfg); must(t, err); return m })
			in(l, old, func() error { _, err := mOld.Acquire(ctx); must(t, err); return nil })

			if err := l.pingFrom(client, vip); err != nil {
				t.Fatal(err)
			}
			if mac, st := l.neighbour(client, vipIP); !bytes.Equal(mac, oldMAC) {
				t.Fatalf("warm cache: client has %s (state %#x) for %s, want old holder %s", mac, st, vip, oldMAC)
			}

			// Move the address without announcing: the client must still
			// point at the old MAC, or the test below proves nothing.
			in(l, old, func() error { must(t, mOld.Release(ctx)); return nil })
			in(l, nw, func() error {
				link, err := netlink.LinkByName("eth0")
				must(t, err)
				vipNet, err := mNew.ResolveVIP(ctx)
				must(t, err)
				must(t, netlink.AddrReplace(link, &netlink.Addr{IPNet: vipNet, Flags: nodadFor(vipNet.IP)}))
				return nil
			})
			if mac, st := l.neighbour(client, vipIP); !bytes.Equal(mac, oldMAC) {
				t.Fatalf("before any announcement: client already has %s (state %#x), want the stale %s", mac, st, oldMAC)
			}

			start := time.Now()
			done := in(l, nw, func() <-chan error {
				done, err := mNew.Acquire(ctx)
				must(t, err)
				return done
			})
			acquired := time.Since(start)
			flipped := waitFor(t, 5*time.Second, "client neighbour entry to flip to the new holder", func() bool {
				mac, _ := l.neighbour(client, vipIP)
				return bytes.Equal(mac, newMAC)
			})
			t.Logf("%s: Acquire returned after %s; client's entry for %s moved %s -> %s within %s of Acquire", fam, acquired, vip, oldMAC, newMAC, acquired+flipped)
			if err := <-done; err != nil {
				t.Errorf("announcement burst: %v", err)
			}
			if err := l.pingFrom(client, vip); err != nil {
				t.Errorf("client cannot reach the VIP on its new holder: %v", err)
			}
			if mac, _ := l.neighbour(client, vipIP); !bytes.Equal(mac, newMAC) {
				t.Errorf("after ping: client has %s, want %s", mac, newMAC)
			}
		})
	}
}

// The burst stops when its context ends.
func TestAnnounceCancelled(t *testing.T) {
	l := newLab(t, 1)
	vip := net.ParseIP(l.ip4(104))
	in(l, l.nodes[0], func() struct{} {
		ifi, err := net.InterfaceByName("eth0")
		must(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done, err := Announce(ctx, ifi, vip, 1000, time.Hour)
		must(t, err)
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("cancelled burst: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("burst still running 10s after its context was cancelled")
		}
		return struct{}{}
	})
}

func nodadFor(ip net.IP) int {
	if ip.To4() == nil {
		return unix.IFA_F_NODAD
	}
	return 0
}

// must reports err and ends the calling goroutine. Unlike t.Fatal it may
// be used inside `in`, whose goroutine is not the test's; `in` then fails
// the test from the test goroutine.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Error(err)
		runtimeGoexit()
	}
}
