package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// decode parses raw for s and stores it in the field of c. The error text
// names the value and what is accepted; the caller adds file and key.
func (s *spec) decode(c *Config, raw string) error {
	switch dst := s.field(c).(type) {
	case *string:
		v, err := s.decodeString(raw)
		if err != nil {
			return err
		}
		*dst = v
	case *bool:
		switch {
		case strings.EqualFold(raw, "true"):
			*dst = true
		case strings.EqualFold(raw, "false"):
			*dst = false
		default:
			return fmt.Errorf("value %q is not a boolean; accepted: true or false", raw)
		}
	case *int:
		n, err := s.decodeInt(raw)
		if err != nil {
			return err
		}
		*dst = n
	case *time.Duration:
		n, err := s.decodeInt(raw)
		if err != nil {
			return err
		}
		*dst = time.Duration(n) * time.Second
	case *HostPort:
		hp, err := parseIPPort(raw)
		if err != nil {
			return err
		}
		*dst = hp
	case *[]string:
		list, err := s.decodeList(raw)
		if err != nil {
			return err
		}
		*dst = list
	case *slog.Level:
		v, err := s.decodeEnum(raw)
		if err != nil {
			return err
		}
		*dst = levelOf(v)
	case *map[string]string:
		m, err := parseJDBCProps(raw)
		if err != nil {
			return err
		}
		*dst = m
	default:
		panic(fmt.Sprintf("config: key %s has an unhandled field type %T", s.Name, dst))
	}
	return nil
}

func (s *spec) decodeString(raw string) (string, error) {
	switch s.Kind {
	case KindString, KindText:
		return raw, nil
	case KindEnum:
		return s.decodeEnum(raw)
	case KindHost:
		return raw, checkHost(raw)
	case KindPath:
		return filepath.Clean(raw), checkPath(raw)
	case KindCommand:
		return raw, checkCommand(raw)
	case KindInterface:
		return raw, checkInterface(raw)
	}
	panic("config: no string decoding for kind " + string(s.Kind))
}

func (s *spec) decodeInt(raw string) (int, error) {
	unit := ""
	if s.Kind == KindSeconds {
		unit = " seconds"
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < s.Min || n > s.Max {
		what := "a whole number"
		if s.Kind == KindPort {
			what = "a port"
		}
		return 0, fmt.Errorf("value %q is not %s; accepted: %d to %d%s", raw, what, s.Min, s.Max, unit)
	}
	return n, nil
}

func (s *spec) decodeEnum(raw string) (string, error) {
	for _, v := range s.Values {
		if strings.EqualFold(raw, v) {
			return v, nil
		}
	}
	return "", fmt.Errorf("value %q is not accepted; accepted: %s", raw, strings.Join(s.Values, ", "))
}

func (s *spec) decodeList(raw string) ([]string, error) {
	fields := strings.Fields(raw)
	for _, f := range fields {
		var err error
		switch s.Kind {
		case KindHostList:
			err = checkHost(f)
		case KindEmailList:
			err = checkEmail(f)
		}
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", f, err)
		}
	}
	return fields, nil
}

func levelOf(name string) slog.Level {
	switch name {
	case "TRACE":
		return LevelTrace
	case "DEBUG":
		return slog.LevelDebug
	case "WARN":
		return slog.LevelWarn
	case "ERROR":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// levelName is the efm.loglevel spelling of l (the nearest at or below).
func levelName(l slog.Level) string {
	switch {
	case l <= LevelTrace:
		return "TRACE"
	case l <= slog.LevelDebug:
		return "DEBUG"
	case l <= slog.LevelInfo:
		return "INFO"
	case l <= slog.LevelWarn:
		return "WARN"
	}
	return "ERROR"
}

// parseIPPort reads ip:port with an IP literal; IPv6 must be bracketed.
func parseIPPort(raw string) (HostPort, error) {
	const accepted = "accepted: <ip>:<port>, IPv6 as [addr]:port, port 1-65535"
	ap, err := netip.ParseAddrPort(raw)
	if err != nil || ap.Port() == 0 {
		return HostPort{}, fmt.Errorf("value %q is not ip:port; %s", raw, accepted)
	}
	a := ap.Addr()
	if a.Is4In6() && !strings.HasPrefix(raw, "[") {
		return HostPort{}, fmt.Errorf("value %q is not ip:port; %s", raw, accepted)
	}
	return HostPort{Host: a.String(), Port: int(ap.Port())}, nil
}

// parseHostPort reads host:port where host is an IP literal or a DNS name
// (nodes files; EFM takes whatever the operator wrote there).
func parseHostPort(raw string) (HostPort, error) {
	if hp, err := parseIPPort(raw); err == nil {
		return hp, nil
	}
	const accepted = "accepted: <address>:<port>, IPv6 as [addr]:port, port 1-65535"
	i := strings.LastIndexByte(raw, ':')
	if i < 0 || strings.Contains(raw[:i], ":") {
		return HostPort{}, fmt.Errorf("%q is not address:port; %s", raw, accepted)
	}
	host, port := raw[:i], raw[i+1:]
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 || !isHostname(host) {
		return HostPort{}, fmt.Errorf("%q is not address:port; %s", raw, accepted)
	}
	return HostPort{Host: host, Port: p}, nil
}

func checkHost(raw string) error {
	if _, err := netip.ParseAddr(raw); err == nil {
		return nil
	}
	if isHostname(raw) {
		return nil
	}
	return fmt.Errorf("value %q is not an address; accepted: an IPv4 or IPv6 address (no brackets, no port) or a host name", raw)
}

// isHostname accepts RFC 1123 names: dot-separated labels of letters,
// digits and inner hyphens, up to 253 characters, not all digits (that is a
// malformed IPv4 address, not a name).
func isHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	allDigits := true
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			switch {
			case r >= '0' && r <= '9':
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '-':
				allDigits = false
			default:
				return false
			}
		}
	}
	return !allDigits
}

func checkPath(raw string) error {
	if !filepath.IsAbs(raw) {
		return fmt.Errorf("value %q is not an absolute path; accepted: a path starting with /", raw)
	}
	return nil
}

// checkCommand wants a command line whose program is an absolute path: the
// agent runs scripts without a shell and without relying on PATH.
func checkCommand(raw string) error {
	prog := strings.Fields(raw)[0]
	if !filepath.IsAbs(prog) {
		return fmt.Errorf("value %q does not start with an absolute path; accepted: /path/to/program [arguments]", raw)
	}
	return nil
}

// checkInterface follows the kernel's rules for a name (IFNAMSIZ-1 bytes,
// no '/', no blanks) and refuses a ':' alias, which EFM does not want and
// netlink does not take as a link name.
func checkInterface(raw string) error {
	bad := len(raw) > 15 || raw == "." || raw == ".." || strings.ContainsAny(raw, "/:")
	for _, r := range raw {
		if unicode.IsSpace(r) || r > unicode.MaxASCII || !unicode.IsPrint(r) {
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("value %q is not an interface name; accepted: a name such as eth0 (at most 15 characters, no ':label' suffix)", raw)
	}
	return nil
}

func checkEmail(raw string) error {
	at := strings.LastIndexByte(raw, '@')
	if at <= 0 || at == len(raw)-1 {
		return fmt.Errorf("not a mail address; accepted: user@domain")
	}
	return nil
}

// parseJDBCProps reads name=value pairs joined by '&', as in a JDBC URL.
func parseJDBCProps(raw string) (map[string]string, error) {
	m := make(map[string]string)
	for _, pair := range strings.Split(raw, "&") {
		name, value, ok := strings.Cut(pair, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("value %q: %q is not name=value; accepted: name=value pairs joined by &", raw, pair)
		}
		m[name] = strings.TrimSpace(value)
	}
	return m, nil
}
