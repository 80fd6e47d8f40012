// Command demo runs a real OpenEFM cluster on this machine and fails it
// over while you watch: network namespaces on a private bridge
// (10.231.0.0/16, no route off the machine), PostgreSQL 15 primary and two
// streaming standbys, a witness, an efm agent on each host, and a client
// writing through the virtual IP. It kills the primary's postmaster, narrates
// the failover with its timings, prints the new cluster-status, and tears
// everything down on exit or Ctrl-C. It needs root: run it with `make demo`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/openefm/efm/integration/harness"
)

func main() {
	bin := flag.String("efm", "", "the efm binary (default: build ./cmd/efm)")
	verbose := flag.Bool("v", false, "log the harness's own steps")
	logs := flag.String("logs", "", "copy every agent's log into this directory before tearing down (always done, to a temporary directory, when the demo fails)")
	flag.Parse()
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	tb := harness.NewStandalone(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	d := &run{out: os.Stdout}
	err := d.demo(ctx, tb, *bin)
	stop()
	if *logs != "" || (err != nil && !errors.Is(err, context.Canceled)) {
		d.saveLogs(*logs)
	}
	say(os.Stdout, "tearing down the demo cluster (namespaces, databases, agents)")
	tb.Close()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			say(os.Stdout, "interrupted; everything was removed")
			os.Exit(130)
		}
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
	say(os.Stdout, "done; everything was removed")
}

var t0 = time.Now()

func say(w io.Writer, format string, a ...any) {
	fmt.Fprintf(w, "[%6.2fs] %s\n", time.Since(t0).Seconds(), fmt.Sprintf(format, a...))
}

type node struct {
	host  *harness.Host
	pg    *harness.PG
	cfg   harness.EFMConfig
	agent *harness.Proc
}

type run struct {
	out   io.Writer
	nodes []*node
}

// saveLogs copies the agents' logs and notifications out of the hosts'
// directories, which the teardown removes.
func (d *run) saveLogs(dir string) {
	var err error
	if dir == "" {
		if dir, err = os.MkdirTemp("", "efm-demo-logs-"); err != nil {
			return
		}
	} else if err = os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	for _, n := range d.nodes {
		if n.agent != nil {
			os.WriteFile(filepath.Join(dir, n.host.Name+"-agent.log"), []byte(n.agent.Log()), 0o644)
		}
		os.WriteFile(filepath.Join(dir, n.host.Name+"-notifications.log"), []byte(strings.Join(n.cfg.Notifications(), "\n")+"\n"), 0o644)
	}
	say(d.out, "agent logs saved in %s", dir)
}

func (d *run) demo(ctx context.Context, tb *harness.Standalone, bin string) error {
	out := d.out
	if r := harness.SkipReason(); r != "" {
		return fmt.Errorf("cannot run the demo here: %s", r)
	}
	var err error
	if bin == "" {
		say(out, "building efm")
		if bin, err = harness.BuildEFM(ctx, tb); err != nil {
			return err
		}
	}
	// The agents start in their hosts' own directories: a relative -efm
	// (make demo passes bin/efm) must be resolved here, against ours.
	if bin, err = efmBinary(bin); err != nil {
		return err
	}
	say(out, "creating hosts n1, n2, n3 and witness w on a private bridge")
	nw, err := harness.NewNetwork(ctx, tb, "n1", "n2", "n3", "w")
	if err != nil {
		return err
	}
	hosts := nw.Hosts()
	vip := nw.Spare(0)
	say(out, "network %s, virtual IP %s", nw.Subnet, vip)

	say(out, "initdb on n1 (primary), pg_basebackup to n2 and n3 (streaming standbys)")
	primary, err := harness.InitPrimary(ctx, tb, hosts[0], harness.PGOptions{})
	if err != nil {
		return err
	}
	nodes := []*node{{host: hosts[0], pg: primary}}
	for _, h := range hosts[1:3] {
		sb, err := harness.CloneStandby(ctx, tb, h, primary, harness.PGOptions{})
		if err != nil {
			return err
		}
		nodes = append(nodes, &node{host: h, pg: sb})
	}
	nodes = append(nodes, &node{host: hosts[3]})
	d.nodes = nodes
	if err := hosts[0].AddAddr(ctx, vip, vip.BitLen()); err != nil {
		return fmt.Errorf("putting the VIP on the primary: %w", err)
	}

	say(out, "starting an efm agent on every host")
	for _, n := range nodes {
		if n.cfg, err = harness.NewEFMConfig("efm", n.host, n.pg, vip, hosts); err != nil {
			return err
		}
		if n.agent, err = harness.StartAgent(tb, n.host, bin, n.cfg); err != nil {
			return err
		}
	}
	w := nodes[3]
	status := func() (string, error) {
		return harness.RunEFM(ctx, w.host, bin, w.cfg, "cluster-status", "efm")
	}
	err = harness.Eventually(ctx, 60*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		s, err := status()
		return err == nil && strings.Contains(s, "It is safe to promote"), err
	})
	if err != nil {
		s, _ := status()
		return fmt.Errorf("the cluster did not form: %w\n%s", err, s)
	}
	s, _ := status()
	say(out, "efm cluster-status efm (run on the witness):\n\n%s", s)

	say(out, "a client on the witness commits a row every 20 ms through the VIP %s", vip)
	writer := harness.StartWriter(tb, w.host, netip.AddrPortFrom(vip, harness.PGPort), harness.WriterOptions{})
	if err := writer.WaitAcks(ctx, 30*time.Second, time.Now(), 25); err != nil {
		return fmt.Errorf("the client cannot write through the VIP: %w", err)
	}
	say(out, "%d commits acknowledged so far", writer.Acked())

	seen := map[string]int{}
	for _, n := range nodes {
		seen[n.host.Name] = len(n.cfg.Notifications())
	}
	pid, err := primary.KillPostmaster()
	if err != nil {
		return err
	}
	fault := time.Now()
	say(out, "FAULT: kill -9 of n1's postmaster (pid %d); the agents must notice, confirm and fail over", pid)
	newPrimary, moved := narrate(ctx, out, nodes, fault, seen)
	if newPrimary == nil {
		return fmt.Errorf("no standby took the VIP within 90 s of the fault: the failover did not complete")
	}

	err = writer.WaitAcks(ctx, 120*time.Second, fault, 1)
	rep := writer.Stop()
	if err != nil {
		return fmt.Errorf("writes never came back after the fault: %w", err)
	}
	gap := rep.MaxGapAfter(fault.Add(-time.Second))
	say(out, "the client writes again; longest time without an acknowledged commit: %v", gap.Duration().Round(10*time.Millisecond))
	s, _ = status()
	say(out, "efm cluster-status efm after the failover:\n\n%s", s)
	say(out, "FAILOVER COMPLETED: %s is the primary (VIP moved %.2fs after the fault), %d commits acknowledged, client gap %v",
		newPrimary.host.Name, moved.Sub(fault).Seconds(), len(rep.Acks), gap.Duration().Round(10*time.Millisecond))
	return nil
}

// efmBinary resolves the -efm flag to an absolute path and checks that it
// names an executable file, so a wrong path fails in one line before any
// host is built.
func efmBinary(bin string) (string, error) {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return "", fmt.Errorf("-efm %s: %w", bin, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("-efm %s: %w (run 'make build' first, or leave -efm out to build one)", bin, err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("-efm %s: %s is not an executable file", bin, abs)
	}
	return abs, nil
}

// narrate prints, as they happen, the notifications of every agent and the
// moment the VIP moves, until the VIP is held by a new host or 90 s pass.
// It returns the standby that took the VIP and when, or nil.
func narrate(ctx context.Context, out io.Writer, nodes []*node, fault time.Time, seen map[string]int) (*node, time.Time) {
	deadline := time.Now().Add(90 * time.Second)
	var took *node
	var at time.Time
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for _, n := range nodes {
			lines := n.cfg.Notifications()
			for _, l := range lines[min(seen[n.host.Name], len(lines)):] {
				if l == "" {
					continue
				}
				parts := strings.SplitN(l, " | ", 3)
				if len(parts) >= 2 {
					say(out, "  +%5.2fs %-3s notification: %s", time.Since(fault).Seconds(), n.host.Name, parts[1])
				}
			}
			seen[n.host.Name] = len(lines)
		}
		if took == nil {
			for _, n := range nodes[1:3] {
				if ok, _ := n.host.HasAddr(ctx, nodesVIP(nodes)); ok {
					took, at = n, time.Now()
					say(out, "  +%5.2fs the VIP is now on %s", at.Sub(fault).Seconds(), n.host.Name)
					deadline = time.Now().Add(time.Second) // the last notifications
					break
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return took, at
}

func nodesVIP(nodes []*node) netip.Addr {
	a, _ := netip.ParseAddr(nodes[0].cfg.Props["virtual.ip"])
	return a
}
