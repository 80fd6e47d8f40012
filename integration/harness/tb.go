package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"time"
)

// TB is the part of testing.TB the harness needs: a *testing.T satisfies it,
// and Standalone provides it to programs that are not tests.
type TB interface {
	Logf(format string, args ...any)
	Cleanup(func())
}

// Standalone is a TB for programs outside go test: it logs through slog and
// runs the registered cleanups, last first, when Close is called.
type Standalone struct {
	log *slog.Logger
	mu  sync.Mutex
	fns []func()
}

// NewStandalone returns a Standalone logging to log.
func NewStandalone(log *slog.Logger) *Standalone { return &Standalone{log: log} }

// Logf logs one formatted line at info level.
func (s *Standalone) Logf(format string, args ...any) { s.log.Info(fmt.Sprintf(format, args...)) }

// Cleanup registers f to run at Close.
func (s *Standalone) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fns = append(s.fns, f)
}

// Close runs the registered cleanups in reverse order of registration, like
// testing.T does; it is safe to call more than once.
func (s *Standalone) Close() {
	for {
		s.mu.Lock()
		if len(s.fns) == 0 {
			s.mu.Unlock()
			return
		}
		f := s.fns[len(s.fns)-1]
		s.fns = s.fns[:len(s.fns)-1]
		s.mu.Unlock()
		f()
	}
}

// DefaultPGBin is where Debian's postgresql-15 package puts the server
// binaries; EFM_PG_BIN overrides it.
const DefaultPGBin = "/usr/lib/postgresql/15/bin"

// PGBin returns the PostgreSQL binary directory in use.
func PGBin() string {
	if b := os.Getenv("EFM_PG_BIN"); b != "" {
		return b
	}
	return DefaultPGBin
}

// SkipReason returns why this machine cannot run the integration tests, or ""
// when it can: EFM_SKIP_INTEGRATION set (to anything but 0/false), not root, PostgreSQL binaries or the
// postgres user missing, iproute2 missing or network namespaces unusable.
func SkipReason() string {
	skipOnce.Do(func() { skipReason = skipReasonUncached() })
	return skipReason
}

var (
	skipOnce   sync.Once
	skipReason string
)

func skipReasonUncached() string {
	switch v := os.Getenv("EFM_SKIP_INTEGRATION"); v {
	case "", "0", "false":
	default:
		return "EFM_SKIP_INTEGRATION=" + v
	}
	if os.Geteuid() != 0 {
		return "integration tests need root (network namespaces, setns, running PostgreSQL as postgres); run as root or see integration/setup-host.sh"
	}
	for _, b := range []string{"initdb", "pg_ctl", "postgres", "pg_basebackup"} {
		if _, err := os.Stat(PGBin() + "/" + b); err != nil {
			return fmt.Sprintf("PostgreSQL 15 binary %s missing in %s (set EFM_PG_BIN or run integration/setup-host.sh): %v", b, PGBin(), err)
		}
	}
	if _, err := lookupPostgres(); err != nil {
		return err.Error()
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "the ip command (iproute2) is missing: run integration/setup-host.sh"
	}
	if err := netnsUsable(); err != nil {
		return fmt.Sprintf("network namespaces are unusable here: %v", err)
	}
	return ""
}

// Eventually calls cond every interval until it reports true, ctx ends or
// timeout passes. On timeout the error carries the last error cond returned,
// so a failing test says what it was still waiting for.
func Eventually(ctx context.Context, timeout, interval time.Duration, cond func(ctx context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last == nil {
				last = errors.New("condition never held")
			}
			return fmt.Errorf("after %v: %w", timeout, last)
		case <-time.After(interval):
		}
	}
}
