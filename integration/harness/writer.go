package harness

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// writerIDs hands out row ids to every Writer of the process, so two writers
// on one cluster (or one after another) never collide on the primary key.
var writerIDs atomic.Int64

// WriterOptions tunes a Writer; zero values take the defaults.
type WriterOptions struct {
	Interval      time.Duration // between commits; 20 ms
	CommitTimeout time.Duration // per commit before the connection is dropped; 1 s
	// ConnectTimeout bounds each connection attempt; 500 ms. A SYN sent to
	// a VIP that no host holds yet is only retransmitted after 1 s, so this
	// is the resolution at which the writer notices the VIP has moved.
	ConnectTimeout time.Duration
	// Hosts, when set, replaces the target's address with a multi-host
	// connection string over these addresses (the target's port) with
	// target_session_attrs=read-write, as a client without a VIP or a load
	// balancer finds the primary. ConnectTimeout then bounds each host.
	Hosts []netip.Addr
}

// Ack is one commit the server acknowledged.
type Ack struct {
	ID      int64
	Sent    time.Time // when the INSERT was sent
	Acked   time.Time // when the commit was acknowledged
	DataDir string    // data_directory of the server that acknowledged it
}

// Writer is a client that commits a row with a unique increasing id every
// Interval through one address (the VIP), from inside a host, reconnecting
// whenever a commit or connection fails. A failed attempt's id is never
// reused: it may or may not have committed (Uncertain).
type Writer struct {
	from   *Host
	target netip.AddrPort
	opts   WriterOptions
	tb     TB
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	acks      []Ack
	uncertain []int64
	failed    []Attempt
	errs      int
	readOnly  []Refusal
	lastErr   error
	started   time.Time
	stopped   time.Time
}

// StartWriter starts a writer in from's namespace committing to target
// (for instance the VIP and PGPort). It runs until Stop or until tb's
// cleanup. The table efmi_writer must exist (InitPrimary creates it).
func StartWriter(tb TB, from *Host, target netip.AddrPort, opts WriterOptions) *Writer {
	if opts.Interval == 0 {
		opts.Interval = 20 * time.Millisecond
	}
	if opts.CommitTimeout == 0 {
		opts.CommitTimeout = time.Second
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 500 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{from: from, target: target, opts: opts, tb: tb, cancel: cancel, done: make(chan struct{}), started: time.Now()}
	go w.loop(ctx)
	tb.Cleanup(func() { w.Stop() })
	to := target.String()
	if len(opts.Hosts) > 0 {
		to = fmt.Sprintf("%s port %d (target_session_attrs=read-write)", joinAddrs(opts.Hosts), target.Port())
	}
	tb.Logf("harness: writer on %s committing to %s every %v", from.Name, to, opts.Interval)
	return w
}

func (w *Writer) loop(ctx context.Context) {
	defer close(w.done)
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	tick := time.NewTicker(w.opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if conn == nil {
			c, err := w.connect(ctx)
			if err != nil {
				w.fail(err)
				continue
			}
			conn = c
		}
		id := writerIDs.Add(1)
		sent := time.Now()
		cctx, cancel := context.WithTimeout(ctx, w.opts.CommitTimeout)
		var dataDir string
		err := conn.QueryRow(cctx, "INSERT INTO efmi_writer(id) VALUES ($1) RETURNING current_setting('data_directory')", id).Scan(&dataDir)
		cancel()
		if err != nil {
			w.mu.Lock()
			w.uncertain = append(w.uncertain, id)
			w.failed = append(w.failed, Attempt{ID: id, Sent: sent, Failed: time.Now()})
			w.mu.Unlock()
			w.fail(err)
			if isReadOnly(err) {
				w.refused(ctx, conn, id)
			}
			conn.Close(context.Background())
			conn = nil
			continue
		}
		w.mu.Lock()
		w.acks = append(w.acks, Ack{ID: id, Sent: sent, Acked: time.Now(), DataDir: dataDir})
		w.mu.Unlock()
	}
}

func (w *Writer) connect(ctx context.Context) (*pgx.Conn, error) {
	hosts, extra, total := w.target.Addr().String(), "", w.opts.ConnectTimeout
	if len(w.opts.Hosts) > 0 {
		hosts, extra = joinAddrs(w.opts.Hosts), " target_session_attrs=read-write"
		total = time.Duration(len(w.opts.Hosts)) * w.opts.ConnectTimeout
	}
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable%s", hosts, w.target.Port(), extra))
	if err != nil {
		return nil, err
	}
	cfg.Password = PGPassword
	cfg.ConnectTimeout = w.opts.ConnectTimeout
	cfg.DialFunc = w.from.DialContext
	cfg.RuntimeParams["application_name"] = "efmi-writer"
	cctx, cancel := context.WithTimeout(ctx, total)
	defer cancel()
	return pgx.ConnectConfig(cctx, cfg)
}

func (w *Writer) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.errs++
	w.lastErr = err
}

// refused records a commit refused as read-only, naming the server through
// the same connection.
func (w *Writer) refused(ctx context.Context, conn *pgx.Conn, id int64) {
	cctx, cancel := context.WithTimeout(ctx, w.opts.CommitTimeout)
	defer cancel()
	var dataDir string
	if err := conn.QueryRow(cctx, "SELECT current_setting('data_directory')").Scan(&dataDir); err != nil {
		dataDir = "unknown: " + err.Error()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.readOnly = append(w.readOnly, Refusal{ID: id, At: time.Now(), DataDir: dataDir})
}

// Acked returns how many commits have been acknowledged so far.
func (w *Writer) Acked() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acks)
}

// LastAck returns the latest acknowledged commit, if any.
func (w *Writer) LastAck() (Ack, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.acks) == 0 {
		return Ack{}, false
	}
	return w.acks[len(w.acks)-1], true
}

// WaitAcks waits until at least n more commits than now are acknowledged
// after since, e.g. "writes resumed after the fault".
func (w *Writer) WaitAcks(ctx context.Context, timeout time.Duration, since time.Time, n int) error {
	return Eventually(ctx, timeout, 10*time.Millisecond, func(context.Context) (bool, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		c := 0
		for i := len(w.acks) - 1; i >= 0 && w.acks[i].Acked.After(since); i-- {
			c++
		}
		if c >= n {
			return true, nil
		}
		return false, fmt.Errorf("%d of %d commits acknowledged since %s; last error: %v", c, n, since.Format("15:04:05.000"), w.lastErr)
	})
}

// Stop stops the writer and returns what it saw; safe to call again.
func (w *Writer) Stop() WriterReport {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped.IsZero() {
		w.stopped = time.Now()
	}
	r := WriterReport{Acks: append([]Ack(nil), w.acks...), Uncertain: append([]int64(nil), w.uncertain...),
		Failed: append([]Attempt(nil), w.failed...), Errors: w.errs,
		ReadOnly: append([]Refusal(nil), w.readOnly...), Started: w.started, Stopped: w.stopped}
	if w.lastErr != nil {
		r.LastError = w.lastErr.Error()
	}
	return r
}

// Attempt is a commit that failed or timed out: it may or may not have
// committed.
type Attempt struct {
	ID     int64
	Sent   time.Time // when the INSERT was sent
	Failed time.Time // when the error came back
}

// Refusal is a commit a server refused as read-only.
type Refusal struct {
	ID      int64
	At      time.Time
	DataDir string // data_directory of the server that refused it
}

// WriterReport is what a Writer saw.
type WriterReport struct {
	Acks      []Ack
	Uncertain []int64   // attempts that failed: committed or not, nobody knows
	Failed    []Attempt // the same attempts with their times, for a history checker
	Errors    int       // failed connects and commits
	// ReadOnly are the commits a server refused as read-only: the
	// writer's address led it to a server that was not the primary.
	ReadOnly  []Refusal
	LastError string
	Started   time.Time
	Stopped   time.Time
}

// Gap is a stretch without acknowledged commits.
type Gap struct {
	From, To time.Time
	After    int64 // id acknowledged at From (0: the writer's start)
	Before   int64 // id acknowledged at To (0: none before Stop: still open)
}

// Duration is To - From.
func (g Gap) Duration() time.Duration { return g.To.Sub(g.From) }

func (g Gap) String() string {
	open := ""
	if g.Before == 0 {
		open = " (no commit acknowledged after it)"
	}
	return fmt.Sprintf("%v from %s (after id %d) to %s%s", g.Duration().Round(time.Millisecond), g.From.Format("15:04:05.000"), g.After, g.To.Format("15:04:05.000"), open)
}

// MaxGap is the write unavailability: the longest time between two
// acknowledged commits, counting the stretch from the last one to Stop (an
// outage that never ended) and from the start to the first one.
func (r WriterReport) MaxGap() Gap { return maxGap(r.Started, 0, r.Acks, r.Stopped) }

// MaxGapAfter is MaxGap among the gaps that end after t (the fault).
func (r WriterReport) MaxGapAfter(t time.Time) Gap {
	from, fromID := r.Started, int64(0)
	for i, a := range r.Acks {
		if a.Acked.After(t) {
			return maxGap(from, fromID, r.Acks[i:], r.Stopped)
		}
		from, fromID = a.Acked, a.ID
	}
	return Gap{From: from, To: r.Stopped, After: fromID}
}

func maxGap(from time.Time, fromID int64, acks []Ack, stopped time.Time) Gap {
	var best Gap
	for _, a := range acks {
		if g := (Gap{From: from, To: a.Acked, After: fromID, Before: a.ID}); g.Duration() > best.Duration() {
			best = g
		}
		from, fromID = a.Acked, a.ID
	}
	if g := (Gap{From: from, To: stopped, After: fromID}); g.Duration() > best.Duration() {
		best = g
	}
	return best
}

// AckedBy counts acknowledged commits per server data directory.
func (r WriterReport) AckedBy() map[string]int {
	m := map[string]int{}
	for _, a := range r.Acks {
		m[a.DataDir]++
	}
	return m
}

// Lost returns the acknowledged ids missing from efmi_writer on p (the
// final primary): acknowledged commits the failover lost.
func (r WriterReport) Lost(ctx context.Context, p *PG) ([]int64, error) {
	have, err := CommittedIDs(ctx, p)
	if err != nil {
		return nil, err
	}
	var lost []int64
	for _, a := range r.Acks {
		if !have[a.ID] {
			lost = append(lost, a.ID)
		}
	}
	sort.Slice(lost, func(i, j int) bool { return lost[i] < lost[j] })
	return lost, nil
}

// Summary is one line for t.Logf.
func (r WriterReport) Summary() string {
	return "writer: " + strconv.Itoa(len(r.Acks)) + " acked, " + strconv.Itoa(len(r.Uncertain)) + " uncertain, " +
		strconv.Itoa(r.Errors) + " errors, max gap " + r.MaxGap().String()
}

// CommittedIDs reads every id in efmi_writer on p: what a writer's commits
// left on that server.
func CommittedIDs(ctx context.Context, p *PG) (map[int64]bool, error) {
	ctx, cancel := withDefaultTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := p.Connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close(context.Background())
	rows, err := c.Query(ctx, "SELECT id FROM efmi_writer")
	if err != nil {
		return nil, fmt.Errorf("reading efmi_writer on %s: %w", p.Host.Name, err)
	}
	defer rows.Close()
	have := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		have[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading efmi_writer on %s: %w", p.Host.Name, err)
	}
	return have, nil
}

// joinAddrs is the host list of a multi-host connection string.
func joinAddrs(addrs []netip.Addr) string {
	hs := make([]string, len(addrs))
	for i, a := range addrs {
		hs[i] = a.String()
	}
	return strings.Join(hs, ",")
}
