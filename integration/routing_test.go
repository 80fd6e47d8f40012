package integration

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openefm/efm/integration/harness"
)

// Routing through a load balancer: the failover tests run a second client
// through a real HAProxy (examples/haproxy/haproxy.cfg) whose write port
// checks GET /primary on every agent's health port, beside the client that
// writes through the VIP, and compare the two clients' write gaps.

// endpointWant is what one endpoint of one node must answer.
type endpointWant struct {
	path string
	code int
}

var (
	primaryEndpoints = []endpointWant{{"/", 200}, {"/primary", 200}, {"/replica", 503}, {"/read-only", 200},
		{"/health", 200}, {"/liveness", 200}, {"/readiness", 200}, {"/metrics", 200}}
	standbyEndpoints = []endpointWant{{"/", 404}, {"/primary", 503}, {"/replica", 200}, {"/replica?lag=16MB", 200},
		{"/replica?lag=1h", 200}, {"/replica?lag=soon", 400}, {"/read-only", 200}, {"/health", 200}, {"/liveness", 200},
		{"/readiness", 200}, {"/metrics", 200}}
	witnessEndpoints = []endpointWant{{"/", 404}, {"/primary", 503}, {"/replica", 503}, {"/read-only", 503},
		{"/health", 503}, {"/liveness", 200}, {"/readiness", 503}, {"/metrics", 200}}
	fencedEndpoints = []endpointWant{{"/", 503}, {"/primary", 503}, {"/replica", 503}, {"/read-only", 503},
		{"/readiness", 503}, {"/liveness", 200}}
)

// checkEndpoints asks every endpoint of h's agent from the client host, as
// curl would, and requires the documented codes. Answers change only on
// the agents' probes (every local.period), so it polls until they agree.
func checkEndpoints(ctx context.Context, t *testing.T, c *harness.Cluster, h *harness.Host, role string, want []endpointWant) {
	t.Helper()
	var got []string
	err := harness.Eventually(ctx, 30*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		got = got[:0]
		ok := true
		for _, w := range want {
			code, body, err := c.HealthGet(ctx, h, w.path)
			if err != nil {
				return false, err
			}
			if w.path == "/metrics" {
				body = fmt.Sprintf("%d bytes", len(body))
			}
			got = append(got, fmt.Sprintf("%s %d %q", w.path, code, body))
			ok = ok && code == w.code
		}
		if !ok {
			return false, fmt.Errorf("%s", strings.Join(got, "; "))
		}
		return true, nil
	})
	if err != nil {
		t.Errorf("health endpoints of %s (%s) never answered as documented %v: %v", h.Name, role, want, err)
		return
	}
	t.Logf("endpoints of %s (%s): %s", h.Name, role, strings.Join(got, "; "))
}

// routed is a failover test's second client, through HAProxy.
type routed struct {
	lb *harness.HAProxy
	w  *harness.Writer
}

// startRouted checks every node's endpoints, starts HAProxy and a writer
// through its write port, checks that its read port leads to a standby, and
// waits until writes through HAProxy are acknowledged.
func startRouted(ctx context.Context, t *testing.T, c *harness.Cluster) *routed {
	t.Helper()
	checkEndpoints(ctx, t, c, c.DB[0].Host, "primary", primaryEndpoints)
	for _, s := range c.DB[1:] {
		checkEndpoints(ctx, t, c, s.Host, "standby", standbyEndpoints)
	}
	checkEndpoints(ctx, t, c, c.Witness, "witness", witnessEndpoints)
	lb, err := c.StartHAProxy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := &routed{lb: lb, w: c.StartWriterVia(lb.Write, harness.WriterOptions{})}
	if err := r.w.WaitAcks(ctx, 30*time.Second, time.Now(), 20); err != nil {
		t.Fatalf("no writes through HAProxy's write port %s: %v\nhaproxy log:\n%s", lb.Write, err, lb.Proc.Log())
	}
	var inRecovery bool
	err = harness.Eventually(ctx, 30*time.Second, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		var err error
		inRecovery, err = queryVia(ctx, c, lb.Read, "SELECT pg_is_in_recovery()")
		return err == nil, err
	})
	if err != nil || !inRecovery {
		t.Errorf("HAProxy's read port %s: in recovery %v, err %v; want a standby", lb.Read, inRecovery, err)
	}
	return r
}

// queryVia runs a one-boolean query through addr from the client host.
func queryVia(ctx context.Context, c *harness.Cluster, addr netip.AddrPort, sql string) (bool, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable connect_timeout=2", addr.Addr(), addr.Port()))
	if err != nil {
		return false, err
	}
	cfg.Password = harness.PGPassword
	cfg.DialFunc = c.Client.DialContext
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	var b bool
	err = conn.QueryRow(cctx, sql).Scan(&b)
	return b, err
}

// finish waits for writes through HAProxy to resume after the fault, then
// stops its writer and judges what it saw against the probe: every commit
// acknowledged through the write port came from the primary of the moment
// (the old one before the new one's first write, the new one after it), and
// no write reached a server that refused it as read-only. It logs the write
// gap through the VIP and through HAProxy side by side, and returns what the
// writer through HAProxy saw.
func (r *routed) finish(ctx context.Context, t *testing.T, c *harness.Cluster, pr harness.ProbeReport, vip harness.WriterReport, np, old string, fault time.Time) harness.WriterReport {
	t.Helper()
	if err := r.w.WaitAcks(ctx, 60*time.Second, fault, 20); err != nil {
		t.Errorf("the client cannot write through HAProxy after the failover: %v\nhaproxy log:\n%s", err, r.lb.Proc.Log())
	}
	wr := r.w.Stop()
	first, ok := pr.FirstWritable(np, fault)
	if !ok {
		t.Fatalf("the probe never saw %s writable after the fault", np)
	}
	by := map[string]int{}
	for _, a := range wr.Acks {
		host := c.HostOf(a.DataDir)
		by[host]++
		switch {
		case host == old && a.Acked.Before(first):
		case host == np && !a.Acked.Before(first):
		default:
			t.Errorf("commit %d acknowledged through HAProxy by %s (%s) at %s, which was not the primary then (old %s, new %s from %s)",
				a.ID, host, a.DataDir, a.Acked.Format("15:04:05.000"), old, np, first.Format("15:04:05.000"))
		}
	}
	for _, rf := range wr.ReadOnly {
		t.Errorf("write %d through HAProxy's write port reached %s (%s) at %s, which refused it as read-only: not the primary",
			rf.ID, c.HostOf(rf.DataDir), rf.DataDir, rf.At.Format("15:04:05.000"))
	}
	vg, lg := vip.MaxGapAfter(fault.Add(-time.Second)), wr.MaxGapAfter(fault.Add(-time.Second))
	t.Logf("measured: write gap   VIP %-8v HAProxy %-8v", vg.Duration().Round(time.Millisecond), lg.Duration().Round(time.Millisecond))
	t.Logf("measured: through HAProxy %d commits acknowledged %v, %d errors, %d refused as read-only", len(wr.Acks), by, wr.Errors, len(wr.ReadOnly))
	lost, err := wr.Lost(ctx, c.PG(np))
	if err != nil {
		t.Errorf("counting commits lost through HAProxy: %v", err)
	} else if len(lost) > 0 {
		t.Errorf("synchronous replication lost %d commits acknowledged through HAProxy: %v", len(lost), lost)
	}
	return wr
}

// checkStopsVouchingFirst: the safety rule, seen from inside the isolated
// primary's own namespace. Its /primary must not answer 200 once its
// database has stopped accepting writes (the first failed probe after its
// last accepted write), and must answer 503, not merely go silent. How long
// before the database stopped the 200s ended is measured, not asserted:
// it is up to one agent tick plus the fencing stop.
func checkStopsVouchingFirst(t *testing.T, answers []harness.Answer, pr harness.ProbeReport, host string, fault time.Time) {
	t.Helper()
	samples := pr.Samples[host]
	last := -1
	for i, s := range samples {
		if s.Writable {
			last = i
		}
	}
	if last < 0 || last == len(samples)-1 {
		t.Errorf("the probe never saw %s stop accepting writes", host)
		return
	}
	stoppedBy := samples[last+1].End
	var lastOK, first503 time.Time
	for _, a := range answers {
		switch {
		case a.Code == 200:
			lastOK = a.End
			if a.Start.After(stoppedBy) {
				t.Errorf("%s's /primary answered 200 to a request sent at %s, after its database stopped accepting writes (by %s)",
					host, a.Start.Format("15:04:05.000"), stoppedBy.Format("15:04:05.000"))
			}
		case a.Code == 503 && a.Start.After(fault) && first503.IsZero():
			first503 = a.Start
		}
	}
	if lastOK.IsZero() || first503.IsZero() {
		t.Errorf("%s's /primary: last 200 at %v, first 503 after the fault at %v; want both", host, lastOK, first503)
		return
	}
	t.Logf("measured: %s's /primary last answered 200 %v after the fault and 503 from %v; its database last accepted a write %v after the fault (the 200s ended %v before)",
		host, lastOK.Sub(fault).Round(time.Millisecond), first503.Sub(fault).Round(time.Millisecond),
		samples[last].End.Sub(fault).Round(time.Millisecond), samples[last].End.Sub(lastOK).Round(time.Millisecond))
}
