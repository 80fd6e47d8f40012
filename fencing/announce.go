package fencing

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

var ethBroadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

const (
	arpRequest = 1
	arpReply   = 2
	arpLen     = 28
)

// Announce tells the link that ip now lives at ifi's MAC: gratuitous ARP
// requests (RFC 5227 announcements) for IPv4, unsolicited neighbour
// advertisements with the override flag for IPv6. Linux updates an
// existing neighbour entry from either even with arp_accept=0, which is
// what moves clients with a warm cache.
//
// The first packet is sent before Announce returns (its error is
// returned); the remaining count-1 follow every interval in a goroutine
// that stops early when ctx ends. The channel gets that goroutine's first
// error or nil, then closes.
func Announce(ctx context.Context, ifi *net.Interface, ip net.IP, count int, interval time.Duration) (<-chan error, error) {
	if count < 1 {
		count = 1
	}
	var send func() error
	var closer func() error
	if v4 := ip.To4(); v4 != nil {
		if len(ifi.HardwareAddr) != 6 {
			return nil, fmt.Errorf("announcing %s on %s: interface has no Ethernet address", ip, ifi.Name)
		}
		c, err := packet.Listen(ifi, packet.Datagram, unix.ETH_P_ARP, nil)
		if err != nil {
			return nil, fmt.Errorf("announcing %s on %s: opening ARP socket: %w", ip, ifi.Name, err)
		}
		garp := arpPacket(arpRequest, ifi.HardwareAddr, v4, nil, v4)
		dst := &packet.Addr{HardwareAddr: ethBroadcast}
		send = func() error { _, err := c.WriteTo(garp, dst); return err }
		closer = c.Close
	} else {
		c, err := openNA(ifi)
		if err != nil {
			return nil, fmt.Errorf("announcing %s on %s: %w", ip, ifi.Name, err)
		}
		na, err := neighbourAdvert(ip, ifi.HardwareAddr)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("announcing %s on %s: %w", ip, ifi.Name, err)
		}
		// The VIP itself as source: it is on the interface already (added
		// with NODAD), while the link-local address may still be tentative.
		cm := &ipv6.ControlMessage{HopLimit: 255, Src: ip, IfIndex: ifi.Index}
		dst := &net.IPAddr{IP: net.IPv6linklocalallnodes, Zone: ifi.Name}
		p := c.IPv6PacketConn()
		send = func() error { _, err := p.WriteTo(na, cm, dst); return err }
		closer = c.Close
	}

	if err := send(); err != nil {
		closer()
		return nil, fmt.Errorf("announcing %s on %s: %w", ip, ifi.Name, err)
	}
	done := make(chan error, 1)
	go func() {
		defer close(done)
		defer closer()
		var first error
		for i := 1; i < count; i++ {
			if err := sleepCtx(ctx, interval); err != nil {
				break
			}
			if err := send(); err != nil && first == nil {
				first = fmt.Errorf("announcing %s on %s (copy %d of %d): %w", ip, ifi.Name, i+1, count, err)
			}
		}
		done <- first
	}()
	return done, nil
}

// arpPacket builds an Ethernet/IPv4 ARP payload; the kernel adds the
// Ethernet header for a packet.Datagram socket.
func arpPacket(op uint16, sha net.HardwareAddr, spa net.IP, tha net.HardwareAddr, tpa net.IP) []byte {
	b := make([]byte, arpLen)
	binary.BigEndian.PutUint16(b[0:2], 1)      // htype Ethernet
	binary.BigEndian.PutUint16(b[2:4], 0x0800) // ptype IPv4
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:8], op)
	copy(b[8:14], sha)
	copy(b[14:18], spa.To4())
	copy(b[18:24], tha) // nil leaves zeros
	copy(b[24:28], tpa.To4())
	return b
}

// arpFields is a parsed Ethernet/IPv4 ARP payload.
type arpFields struct {
	op       uint16
	sha, tha net.HardwareAddr
	spa, tpa net.IP
}

func parseARP(b []byte) (arpFields, error) {
	if len(b) < arpLen || binary.BigEndian.Uint16(b[0:2]) != 1 || binary.BigEndian.Uint16(b[2:4]) != 0x0800 || b[4] != 6 || b[5] != 4 {
		return arpFields{}, errors.New("not an Ethernet/IPv4 ARP packet")
	}
	return arpFields{
		op:  binary.BigEndian.Uint16(b[6:8]),
		sha: net.HardwareAddr(append([]byte(nil), b[8:14]...)),
		spa: net.IP(append([]byte(nil), b[14:18]...)),
		tha: net.HardwareAddr(append([]byte(nil), b[18:24]...)),
		tpa: net.IP(append([]byte(nil), b[24:28]...)),
	}, nil
}

// openNA opens a raw ICMPv6 socket set up to send neighbour discovery:
// receivers drop ND packets whose hop limit is not 255 (RFC 4861 7.1.2).
func openNA(ifi *net.Interface) (*icmp.PacketConn, error) {
	c, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, fmt.Errorf("opening ICMPv6 socket: %w", err)
	}
	p := c.IPv6PacketConn()
	var f ipv6.ICMPFilter
	f.SetAll(true) // we only send; keep the receive queue empty
	for _, set := range []func() error{
		func() error { return p.SetICMPFilter(&f) },
		func() error { return p.SetMulticastHopLimit(255) },
		func() error { return p.SetHopLimit(255) },
		func() error { return p.SetMulticastInterface(ifi) },
	} {
		if err := set(); err != nil {
			c.Close()
			return nil, fmt.Errorf("setting up ICMPv6 socket: %w", err)
		}
	}
	return c, nil
}

// neighbourAdvert builds an unsolicited NA for target with the override
// flag and a target link-layer address option; the kernel fills in the
// ICMPv6 checksum on raw ICMPv6 sockets.
func neighbourAdvert(target net.IP, mac net.HardwareAddr) ([]byte, error) {
	body := make([]byte, 4, 4+16+8)
	body[0] = 0x20 // R=0 S=0 O=1: unsolicited, replaces the cached MAC
	body = append(body, target.To16()...)
	if len(mac) > 0 {
		opt := []byte{2, byte((2 + len(mac) + 7) / 8)} // target link-layer address, length in 8-byte units
		opt = append(opt, mac...)
		for len(opt)%8 != 0 {
			opt = append(opt, 0)
		}
		body = append(body, opt...)
	}
	msg := icmp.Message{Type: ipv6.ICMPTypeNeighborAdvertisement, Body: &icmp.RawBody{Data: body}}
	return msg.Marshal(nil)
}
