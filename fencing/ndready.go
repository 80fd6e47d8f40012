package fencing

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// An IPv6 address added with netlink is in the table at once, but the
// kernel joins its solicited-node multicast group later, from the addrconf
// work queue. Until then the node drops the neighbour solicitations sent
// to that group: measured in netns, a client probing within a few ms of
// the add got no answer and, per RFC 4861, retried only 1 s later. So
// Acquire waits for the join (bounded) before it returns.
const ndReadyMax = time.Second

// solicitedNode is ff02::1:ffXX:XXXX for ip (RFC 4291 2.7.1).
func solicitedNode(ip net.IP) net.IP {
	sn := net.ParseIP("ff02::1:ff00:0")
	ip16 := ip.To16()
	copy(sn[13:], ip16[13:])
	return sn
}

// waitNDReady polls the calling thread's /proc/thread-self/net/igmp6
// (per thread, so it follows a namespace switch) until ifname has joined
// ip's solicited-node group, ctx ends or ndReadyMax passes.
func waitNDReady(ctx context.Context, ifname string, ip net.IP) (time.Duration, error) {
	want := hex.EncodeToString(solicitedNode(ip))
	start := time.Now()
	for {
		joined, err := igmp6Joined(ifname, want)
		if err != nil {
			return time.Since(start), err
		}
		if joined {
			return time.Since(start), nil
		}
		if time.Since(start) > ndReadyMax {
			return time.Since(start), fmt.Errorf("%s has not joined %s after %s", ifname, solicitedNode(ip), ndReadyMax)
		}
		if err := sleepCtx(ctx, time.Millisecond); err != nil {
			return time.Since(start), err
		}
	}
}

func igmp6Joined(ifname, group string) (bool, error) {
	f, err := os.Open("/proc/thread-self/net/igmp6")
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 3 && fields[1] == ifname && fields[2] == group {
			return true, nil
		}
	}
	return false, sc.Err()
}
