package config

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultProbeDeadline bounds one run of a ping.server.command whose
// duration cannot be read from its options (not ping(8), or options this
// parser does not know): ping -c3 -w5, EFM's default, needs 5 s; twice that
// covers a wrapper script doing a little more.
const DefaultProbeDeadline = 10 * time.Second

// probeMargin is added to what ping says it needs: starting the process,
// resolving a host name, and ping's own deadline firing before ours, so
// that it ends with "no reply" (exit 1) rather than being killed (doubt).
const probeMargin = time.Second

// ping(8) defaults (iputils): one second between probes, and ten seconds of
// waiting for a reply after the last probe when there is no -w deadline.
const (
	pingInterval = time.Second
	pingLinger   = 10 * time.Second
)

// iputils ping's options that take a value, and those that do not.
const (
	pingArgOpts  = "ceFiIlmMpQsStTwW"
	pingFlagOpts = "46aAbBdDfhHLnOqrRUvV"
)

// ProbeDeadline is how long one run of ping.server.command (the target
// appended) may take before it is killed, which makes the probe "in doubt".
// It is derived from what the command needs, never from remote.timeout: for
// ping(8) (ping, ping4, ping6), the -w deadline when given, else (count-1) ×
// -i interval + -W timeout, plus a one-second margin; derived reports
// whether that was possible. Any other command, or options not understood,
// gets DefaultProbeDeadline. A ping with neither -c nor -w never ends by
// itself: every probe would be killed and read as in doubt, so no standby
// could ever promote; that is an error.
func ProbeDeadline(command string) (d time.Duration, derived bool, err error) {
	argv := strings.Fields(command)
	if len(argv) == 0 {
		return DefaultProbeDeadline, false, nil
	}
	switch filepath.Base(argv[0]) {
	case "ping", "ping4", "ping6":
	default:
		return DefaultProbeDeadline, false, nil
	}
	opts, ok := pingOptions(argv[1:])
	if !ok {
		return DefaultProbeDeadline, false, nil
	}
	var count int
	var deadline, interval, wait time.Duration = 0, pingInterval, pingLinger
	for _, o := range []struct {
		name byte
		dst  *time.Duration
	}{{'w', &deadline}, {'i', &interval}, {'W', &wait}} {
		v, set := opts[o.name]
		if !set {
			continue
		}
		secs, perr := strconv.ParseFloat(v, 64)
		if perr != nil || secs < 0 || secs > 24*3600 {
			return DefaultProbeDeadline, false, nil
		}
		*o.dst = time.Duration(secs * float64(time.Second))
	}
	if v, set := opts['c']; set {
		if count, err = strconv.Atoi(v); err != nil || count < 1 {
			return DefaultProbeDeadline, false, nil
		}
	}
	switch {
	case deadline > 0:
		// ping stops at its -w deadline whatever the count.
		return deadline + probeMargin, true, nil
	case count > 0:
		return time.Duration(count-1)*interval + wait + probeMargin, true, nil
	default:
		return 0, false, fmt.Errorf("value %q never ends by itself (ping without -c or -w): every probe would be killed "+
			"and count as in doubt, so no standby could promote; accepted: ping with -c COUNT and/or -w SECONDS, as \"/bin/ping -q -c3 -w5\"", command)
	}
}

// pingOptions reads ping's short options ("-q", "-c3", "-c 3", "-qc3"),
// the last value of each winning. ok is false for anything it does not
// understand, including a positional argument (the target is appended).
func pingOptions(args []string) (map[byte]string, bool) {
	opts := map[byte]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || a[0] != '-' {
			return nil, false
		}
		for j := 1; j < len(a); j++ {
			o := a[j]
			switch {
			case strings.IndexByte(pingFlagOpts, o) >= 0:
				opts[o] = ""
			case strings.IndexByte(pingArgOpts, o) >= 0:
				v := a[j+1:]
				if v == "" {
					if i+1 >= len(args) {
						return nil, false
					}
					i++
					v = args[i]
				}
				opts[o] = v
				j = len(a)
			default:
				return nil, false
			}
		}
	}
	return opts, true
}

// PingProbeDeadline is ProbeDeadline of c's ping.server.command, or
// DefaultProbeDeadline when it cannot be derived (the command is then
// refused by check if it is used).
func (c *Config) PingProbeDeadline() time.Duration {
	d, _, err := ProbeDeadline(c.PingServerCommand)
	if err != nil {
		return DefaultProbeDeadline
	}
	return d
}

// pingCommandUsed: the VIP check or the orphan check runs the command.
func (c *Config) pingCommandUsed() bool {
	return c.VirtualIP != "" || c.PingServerIP != ""
}

// checkProbeDeadline refuses a ping.server.command that never ends when it
// is used.
func (c *Config) checkProbeDeadline(ps *problems) {
	if !c.pingCommandUsed() || c.bad["ping.server.command"] {
		return
	}
	if _, _, err := ProbeDeadline(c.PingServerCommand); err != nil {
		ps.add("ping.server.command", "%v", err)
	}
}

// probeWarnings: a check.vip.timeout shorter than one probe leaves no time
// to retry a probe that runs its full course.
func (c *Config) probeWarnings() []string {
	if c.VirtualIP == "" || c.IsWitness || !c.CheckVIPBeforePromotion {
		return nil
	}
	d, _, err := ProbeDeadline(c.PingServerCommand)
	if err != nil || c.CheckVIPTimeout >= d {
		return nil
	}
	return []string{fmt.Sprintf("%s: check.vip.timeout: %s is shorter than one run of ping.server.command (up to %s for %q): "+
		"a VIP probe that runs its full course is not retried before the promotion is given up; accepted: check.vip.timeout of at least %d",
		c.Path, c.CheckVIPTimeout, d, c.PingServerCommand, int((d+time.Second-1)/time.Second))}
}
