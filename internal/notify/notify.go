package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openefm/efm/internal/hooks"
	"github.com/openefm/efm/internal/notify/subject"
)

// Defaults used when Config fields are zero.
const (
	DefaultSMTPAddr = "localhost:25"
	DefaultFrom     = "efm@localhost"
	// DefaultTimeout bounds one delivery (mail and script together). The
	// local MTA answers in milliseconds; a minute is for a notification
	// script that relays through a slow API, and still keeps a stuck one
	// from piling up forever.
	DefaultTimeout = 60 * time.Second
	// queueSize bounds Post's backlog; beyond it notifications are dropped
	// (and logged) rather than blocking a failover.
	queueSize = 256
)

// Config is the notification part of the cluster properties and what the
// body header needs.
type Config struct {
	Cluster      string // cluster name
	Node         string // this node's address (bind.address host)
	DatabaseName string // db.database
	VIP          string // virtual.ip; "" = VIP support disabled
	// VIPActive reports whether this node holds the VIP now; nil = Inactive.
	VIPActive func() bool

	Level      Level  // notification.level
	TextPrefix string // notification.text.prefix, escapes already decoded

	UserEmail string // user.email: space-separated recipients, "" = no mail
	FromEmail string // from.email; "%h" becomes Hostname; "" = efm@localhost
	Hostname  string // for %h; "" = os.Hostname()
	SMTPAddr  string // "" = localhost:25

	ScriptCommand string // script.notification; "" = no script
	// NodeType, if set, gives EFM_NODE_TYPE for the notification script
	// (primary, standby, witness, idle).
	NodeType func() string

	Timeout time.Duration // per delivery; 0 = DefaultTimeout
}

// Message is one notification.
type Message struct {
	Subject subject.Subject
	// Node fills {node} in the subject; "" means this node.
	Node string
	// Text is the event text, after the header of the body.
	Text string
	// Results are script runs reported in the body.
	Results []hooks.Result
}

// scriptRunner runs script.notification; *hooks.Runner is one.
type scriptRunner interface {
	Run(ctx context.Context, k hooks.Kind, command string, v hooks.Vars) hooks.Result
}

// Notifier renders, logs and delivers notifications. Safe for concurrent use.
type Notifier struct {
	cfg     Config
	to      []string
	from    string
	scripts scriptRunner
	log     *slog.Logger

	level atomic.Int32
	quiet atomic.Bool

	startOnce sync.Once
	queue     chan Message
	mu        sync.Mutex // guards closed against Post racing Close
	closed    bool
	done      chan struct{}
}

// New returns a Notifier. scripts may be nil when no script.notification is
// configured; logger nil discards logs.
func New(cfg Config, scripts scriptRunner, logger *slog.Logger) *Notifier {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SMTPAddr == "" {
		cfg.SMTPAddr = DefaultSMTPAddr
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Hostname == "" {
		if h, err := os.Hostname(); err == nil {
			cfg.Hostname = h
		} else {
			cfg.Hostname = "localhost"
		}
	}
	from := cfg.FromEmail
	if from == "" {
		from = DefaultFrom
	}
	n := &Notifier{
		cfg:     cfg,
		to:      strings.Fields(cfg.UserEmail),
		from:    strings.ReplaceAll(from, "%h", cfg.Hostname),
		scripts: scripts,
		log:     logger.With("cluster", cfg.Cluster),
		queue:   make(chan Message, queueSize),
		done:    make(chan struct{}),
	}
	n.level.Store(int32(cfg.Level))
	return n
}

// SetLevel changes notification.level at run time.
func (n *Notifier) SetLevel(l Level) { n.level.Store(int32(l)) }

// SetQuiet turns quiet mode (promote -switchover -quiet) on or off: while on,
// notifications are logged but not delivered.
func (n *Notifier) SetQuiet(on bool) { n.quiet.Store(on) }

// Quiet reports whether quiet mode is on.
func (n *Notifier) Quiet() bool { return n.quiet.Load() }

// Render returns the subject line and body of m as they are delivered.
func (n *Notifier) Render(m Message) (subject, body string) {
	node := m.Node
	if node == "" {
		node = n.cfg.Node
	}
	subject = fmt.Sprintf("[%s] EFM %s", m.Subject.Level, m.Subject.Render(node, n.cfg.Cluster))

	var b strings.Builder
	if p := strings.TrimRight(n.cfg.TextPrefix, "\n"); p != "" {
		b.WriteString(p)
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "EFM node: %s\nCluster name: %s\nDatabase name: %s\n", n.cfg.Node, n.cfg.Cluster, n.cfg.DatabaseName)
	if n.cfg.VIP == "" {
		b.WriteString("VIP support: DISABLED\n")
	} else {
		state := "Inactive"
		if n.cfg.VIPActive != nil && n.cfg.VIPActive() {
			state = "Active"
		}
		fmt.Fprintf(&b, "VIP: %s (%s)\n", n.cfg.VIP, state)
	}
	b.WriteString("\n")
	b.WriteString(strings.TrimRight(m.Text, "\n"))
	for _, r := range m.Results {
		writeResult(&b, r)
	}
	b.WriteString("\n")
	return subject, b.String()
}

// Send logs m and, unless it is below notification.level or quiet mode is
// on, delivers it by mail and script at the same time, waiting at most the
// configured timeout. It returns the delivery errors (already logged).
func (n *Notifier) Send(ctx context.Context, m Message) (err error) {
	defer func() {
		// A notification is never worth crashing the agent over.
		if p := recover(); p != nil {
			err = fmt.Errorf("notification %q: panic: %v", m.Subject.Text, p)
			n.log.Error("notification delivery panicked", "panic", p)
		}
	}()
	subject, body := n.Render(m)
	level := Level(n.level.Load())
	quiet := n.quiet.Load()
	deliver := m.Subject.Level >= level && !quiet
	reason := ""
	switch {
	case quiet:
		reason = "quiet mode"
	case m.Subject.Level < level:
		reason = "below notification.level " + level.String()
	}
	n.log.Log(ctx, slogLevel(m.Subject.Level), "notification", "subject", subject,
		"level", m.Subject.Level.String(), "body", body, "delivered", deliver, "suppressed_by", reason)
	if !deliver {
		return nil
	}

	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	var (
		wg   sync.WaitGroup
		errs [2]error
	)
	if len(n.to) > 0 {
		wg.Go(func() { errs[0] = n.mail(ctx, subject, body, m.Subject.Level) })
	}
	if n.cfg.ScriptCommand != "" && n.scripts != nil {
		wg.Go(func() { errs[1] = n.script(ctx, subject, body, m.Subject.Level) })
	}
	wg.Wait()
	err = errors.Join(errs[0], errs[1])
	if err != nil {
		n.log.Error("notification not delivered", "subject", subject, "error", err)
	}
	return err
}

func (n *Notifier) mail(ctx context.Context, subject, body string, level Level) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("mail: panic: %v", p)
		}
	}()
	msg := buildMail(n.from, n.to, subject, body, level, n.cfg.Hostname, time.Now())
	if err := sendMail(ctx, n.cfg.SMTPAddr, n.cfg.Hostname, envelope(n.from), n.to, msg); err != nil {
		return fmt.Errorf("mail to %v via %s (user.email): %w", n.to, n.cfg.SMTPAddr, err)
	}
	return nil
}

func (n *Notifier) script(ctx context.Context, subject, body string, level Level) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("script.notification: panic: %v", p)
		}
	}()
	var nodeType string
	if n.cfg.NodeType != nil {
		nodeType = n.cfg.NodeType()
	}
	res := n.scripts.Run(ctx, hooks.Notification, n.cfg.ScriptCommand, hooks.Vars{
		Subject: subject, Body: body, NodeType: nodeType,
		Env: map[string]string{"EFM_NOTIFICATION_LEVEL": level.String()},
	})
	return res.Err
}

// Post queues m for delivery in the background and returns at once; the
// order of Posts is kept. When the queue is full or the Notifier closed, m is
// still logged but not delivered.
func (n *Notifier) Post(m Message) {
	n.startOnce.Do(func() { go n.worker() })
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		n.dropped(m, "notifier closed")
		return
	}
	select {
	case n.queue <- m:
	default:
		n.dropped(m, "queue full")
	}
}

func (n *Notifier) dropped(m Message, why string) {
	subject, body := n.Render(m)
	n.log.Error("notification dropped: "+why, "subject", subject, "body", body)
}

func (n *Notifier) worker() {
	defer close(n.done)
	for m := range n.queue {
		_ = n.Send(context.Background(), m) // errors are logged by Send
	}
}

// Close stops accepting Posts and waits until the queued ones are delivered
// or ctx ends.
func (n *Notifier) Close(ctx context.Context) error {
	n.startOnce.Do(func() { go n.worker() })
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		close(n.queue)
	}
	n.mu.Unlock()
	select {
	case <-n.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("notifications still queued at shutdown: %w", ctx.Err())
	}
}
