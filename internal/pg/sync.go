package pg

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
)

// SyncMethod is how synchronous_standby_names picks its synchronous
// standbys: FIRST n by priority (the order of the list), or ANY n (quorum).
type SyncMethod string

const (
	SyncFirst SyncMethod = "FIRST"
	SyncAny   SyncMethod = "ANY"
)

// SyncStandbyNames is synchronous_standby_names, parsed. The zero value is
// the empty setting: asynchronous replication.
type SyncStandbyNames struct {
	Method SyncMethod
	// Num is num_sync: how many standbys must confirm a commit.
	Num int
	// Names are the standby names as written (unquoted); "*" matches any
	// standby. PostgreSQL compares them with application_name
	// case-insensitively, quoted or not.
	Names []string
}

// Synchronous tells whether commits wait for any standby.
func (s SyncStandbyNames) Synchronous() bool { return len(s.Names) > 0 && s.Num > 0 }

// hasWildcard tells whether "*" is one of the names (any standby counts).
func (s SyncStandbyNames) hasWildcard() bool {
	for _, n := range s.Names {
		if n == "*" {
			return true
		}
	}
	return false
}

// String renders the setting in PostgreSQL's syntax, always in the
// explicit "FIRST n (...)" / "ANY n (...)" form (the legacy "a, b" list
// means FIRST 1 and is written so); "" when asynchronous.
func (s SyncStandbyNames) String() string {
	if !s.Synchronous() {
		return ""
	}
	names := make([]string, len(s.Names))
	for i, n := range s.Names {
		names[i] = quoteStandbyName(n)
	}
	m := s.Method
	if m == "" {
		m = SyncFirst
	}
	return fmt.Sprintf("%s %d (%s)", m, s.Num, strings.Join(names, ", "))
}

// quoteStandbyName double-quotes a name unless it reads back the same bare:
// a lower-case identifier, or "*". Quoting keeps the case, spaces and
// commas of names such as application_name "Node 2".
func quoteStandbyName(n string) string {
	if n == "*" || isPlainIdentifier(n) {
		return n
	}
	return `"` + strings.ReplaceAll(n, `"`, `""`) + `"`
}

func isPlainIdentifier(n string) bool {
	if n == "" || strings.EqualFold(n, "first") || strings.EqualFold(n, "any") {
		return false
	}
	for i, r := range n {
		switch {
		case r == '_' || (r >= 'a' && r <= 'z'):
		case i > 0 && (r == '$' || (r >= '0' && r <= '9')):
		default:
			return false
		}
	}
	return true
}

// ParseSyncStandbyNames parses synchronous_standby_names as PostgreSQL
// does (syncrep_gram.y): "", "a, b" (FIRST 1), "n (a, b)" (FIRST n),
// "FIRST n (a, b)", "ANY n (a, b)"; names are identifiers, double-quoted
// strings ("" for a quote) or "*"; keywords are case-insensitive.
func ParseSyncStandbyNames(s string) (SyncStandbyNames, error) {
	toks, err := lexSyncNames(s)
	if err != nil {
		return SyncStandbyNames{}, fmt.Errorf("synchronous_standby_names %q: %w", s, err)
	}
	if len(toks) == 0 {
		return SyncStandbyNames{}, nil
	}
	p := syncParser{toks: toks}
	out, err := p.parse()
	if err != nil {
		return SyncStandbyNames{}, fmt.Errorf("synchronous_standby_names %q: %w (want FIRST n (name, ...), ANY n (name, ...) or name, ...)", s, err)
	}
	return out, nil
}

type syncToken struct {
	kind byte // 'i' identifier, 'q' quoted name, 'n' number, '*', '(', ')', ','
	text string
}

func lexSyncNames(s string) ([]syncToken, error) {
	var toks []syncToken
	rs := []rune(s)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '*' || r == '(' || r == ')' || r == ',':
			toks = append(toks, syncToken{kind: byte(r), text: string(r)})
			i++
		case r == '"':
			var b strings.Builder
			i++
			closed := false
			for i < len(rs) {
				if rs[i] == '"' {
					if i+1 < len(rs) && rs[i+1] == '"' {
						b.WriteRune('"')
						i += 2
						continue
					}
					closed = true
					i++
					break
				}
				b.WriteRune(rs[i])
				i++
			}
			if !closed {
				return nil, errors.New("unterminated quoted name")
			}
			toks = append(toks, syncToken{kind: 'q', text: b.String()})
		case unicode.IsDigit(r):
			j := i
			for j < len(rs) && unicode.IsDigit(rs[j]) {
				j++
			}
			toks = append(toks, syncToken{kind: 'n', text: string(rs[i:j])})
			i = j
		case unicode.IsLetter(r) || r == '_' || r > unicode.MaxASCII:
			j := i
			for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || rs[j] == '_' || rs[j] == '$' || rs[j] > unicode.MaxASCII) {
				j++
			}
			toks = append(toks, syncToken{kind: 'i', text: string(rs[i:j])})
			i = j
		default:
			return nil, fmt.Errorf("unexpected %q at offset %d", r, i)
		}
	}
	return toks, nil
}

type syncParser struct {
	toks []syncToken
	pos  int
}

func (p *syncParser) peek() (syncToken, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return syncToken{}, false
}

func (p *syncParser) parse() (SyncStandbyNames, error) {
	out := SyncStandbyNames{Method: SyncFirst, Num: 1}
	t, _ := p.peek()
	if t.kind == 'i' && (strings.EqualFold(t.text, "first") || strings.EqualFold(t.text, "any")) {
		// FIRST/ANY are keywords only before a number: a lone standby
		// may be called "first".
		if p.pos+1 < len(p.toks) && p.toks[p.pos+1].kind == 'n' {
			out.Method = SyncMethod(strings.ToUpper(t.text))
			p.pos++
			t, _ = p.peek()
			if p.pos+1 >= len(p.toks) || p.toks[p.pos+1].kind != '(' {
				return out, errors.New("a parenthesised list must follow " + string(out.Method) + " " + t.text)
			}
		}
	}
	if t.kind == 'n' && p.pos+1 < len(p.toks) && p.toks[p.pos+1].kind == '(' {
		n, err := strconv.Atoi(t.text)
		if err != nil || n < 1 {
			return out, fmt.Errorf("num_sync %q: want a whole number of 1 or more", t.text)
		}
		out.Num = n
		p.pos += 2
		names, err := p.names()
		if err != nil {
			return out, err
		}
		if t, ok := p.peek(); !ok || t.kind != ')' {
			return out, errors.New("missing )")
		}
		p.pos++
		out.Names = names
	} else {
		names, err := p.names()
		if err != nil {
			return out, err
		}
		out.Names = names
	}
	if t, ok := p.peek(); ok {
		return out, fmt.Errorf("unexpected %q after the list", t.text)
	}
	return out, nil
}

func (p *syncParser) names() ([]string, error) {
	var names []string
	for {
		t, ok := p.peek()
		if !ok || (t.kind != 'i' && t.kind != 'q' && t.kind != '*' && t.kind != 'n') {
			return nil, errors.New("a standby name expected")
		}
		names = append(names, t.text)
		p.pos++
		if t, ok := p.peek(); !ok || t.kind != ',' {
			return names, nil
		}
		p.pos++
	}
}

// WithNum is s with num_sync n. It refuses n < 1 (use the zero value to
// clear synchronous replication) and n above the number of names unless
// "*" is one of them: PostgreSQL would accept it and block every commit.
func (s SyncStandbyNames) WithNum(n int) (SyncStandbyNames, error) {
	if !s.Synchronous() {
		return s, errors.New("synchronous_standby_names is empty: there is no num_sync to change")
	}
	if n < 1 {
		return s, fmt.Errorf("num_sync %d: want 1 or more (to stop waiting for standbys, clear synchronous_standby_names)", n)
	}
	if n > len(s.Names) && !s.hasWildcard() {
		return s, fmt.Errorf("num_sync %d: only %d standby names in %s", n, len(s.Names), s)
	}
	out := s
	out.Names = append([]string(nil), s.Names...)
	out.Num = n
	if out.Method == "" {
		out.Method = SyncFirst
	}
	return out, nil
}

// SyncStandbyNames reads the primary's synchronous_standby_names.
func (d *DB) SyncStandbyNames(ctx context.Context) (SyncStandbyNames, error) {
	var v string
	if err := d.queryRow(ctx, "read synchronous_standby_names", "SELECT current_setting('synchronous_standby_names')", nil, &v); err != nil {
		return SyncStandbyNames{}, err
	}
	s, err := ParseSyncStandbyNames(v)
	if err != nil {
		return SyncStandbyNames{}, fmt.Errorf("%s: %w", d.cfg.Node, err)
	}
	return s, nil
}

// SetSyncStandbyNames writes synchronous_standby_names with ALTER SYSTEM
// (postgresql.auto.conf, so it survives a restart) and reloads. The zero
// value writes ” (asynchronous): ALTER SYSTEM RESET would let a value in
// postgresql.conf come back. Commits waiting for a standby the new value
// no longer requires are released once the server has reloaded.
func (d *DB) SetSyncStandbyNames(ctx context.Context, s SyncStandbyNames) error {
	if err := d.applyRunning(ctx, map[string]string{"synchronous_standby_names": s.String()}); err != nil {
		return fmt.Errorf("set synchronous_standby_names on %s to %q: %w", d.cfg.Node, s.String(), err)
	}
	d.log.Info("synchronous_standby_names changed", "value", s.String())
	d.releaseSyncWaiters(ctx)
	return nil
}

// releaseSyncWaiters gets commits that the new setting no longer holds
// released now. A wal sender releases waiters only when a standby replies,
// and an idle standby replies every wal_receiver_status_interval (10 s by
// default: measured, a commit blocked on a missing standby completed 10 s
// after num_sync was lowered). A transaction that writes a commit record
// without waiting itself (synchronous_commit = local) makes the standbys
// reply at once. It is repeated for a short while, since the wal senders
// take the reload asynchronously, and stops as soon as nothing waits.
// Best effort: a failure here only delays the release.
func (d *DB) releaseSyncWaiters(ctx context.Context) {
	const nudges, every = 20, 100 * time.Millisecond
	err := pollUntil(ctx, nudges*every, every, func(ctx context.Context) (bool, error) {
		var waiting int
		err := d.withConn(ctx, false, func(ctx context.Context, c *pgx.Conn) error {
			tx, err := c.Begin(ctx)
			if err != nil {
				return err
			}
			defer tx.Rollback(context.WithoutCancel(ctx))
			if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = local"); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "SELECT pg_current_xact_id()"); err != nil {
				return err
			}
			if err := tx.Commit(ctx); err != nil {
				return err
			}
			return c.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'").Scan(&waiting)
		})
		return err == nil && waiting == 0, err
	})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		d.log.Debug("nudging standbys to release waiting commits", "err", err)
	}
}

// SetNumSync changes num_sync in the primary's synchronous_standby_names
// (reconfigure.num.sync lowers it when standbys are lost,
// reconfigure.num.sync.max raises it when they return) and returns the
// value before and after.
func (d *DB) SetNumSync(ctx context.Context, n int) (before, after SyncStandbyNames, err error) {
	before, err = d.SyncStandbyNames(ctx)
	if err != nil {
		return before, before, err
	}
	after, err = before.WithNum(n)
	if err != nil {
		return before, before, fmt.Errorf("%s: %w", d.cfg.Node, err)
	}
	if after.String() == before.String() {
		return before, after, nil
	}
	return before, after, d.SetSyncStandbyNames(ctx, after)
}

// ClearSyncStandbyNames makes the primary asynchronous
// (reconfigure.sync.primary): commits no longer wait for any standby.
func (d *DB) ClearSyncStandbyNames(ctx context.Context) error {
	return d.SetSyncStandbyNames(ctx, SyncStandbyNames{})
}

// Replica is one standby as the primary's pg_stat_replication shows it
// (its details need pg_read_all_stats or superuser).
type Replica struct {
	ApplicationName string
	ClientAddr      string
	State           string // "streaming", "catchup", ...
	// SyncState is "sync" or "quorum" for a standby that counts toward
	// num_sync now, "potential" for one that would take over, "async".
	SyncState string
}

// Counts tells whether the standby confirms commits now.
func (r Replica) Counts() bool {
	return r.State == "streaming" && (r.SyncState == "sync" || r.SyncState == "quorum")
}

// Replicas lists the primary's wal senders to standbys: what
// check.num.sync.period compares with num_sync.
func (d *DB) Replicas(ctx context.Context) ([]Replica, error) {
	var out []Replica
	err := d.withConn(ctx, false, func(ctx context.Context, c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT coalesce(application_name, ''), coalesce(host(client_addr), ''),
			coalesce(state, ''), coalesce(sync_state, '') FROM pg_stat_replication ORDER BY application_name`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r Replica
			if err := rows.Scan(&r.ApplicationName, &r.ClientAddr, &r.State, &r.SyncState); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("read pg_stat_replication on %s: %w", d.cfg.Node, err)
	}
	return out, nil
}
