package pg

import (
	"bytes"
	"regexp"
	"strings"
)

// autoConfName is where ALTER SYSTEM keeps its settings, read after
// postgresql.conf so its values win.
const autoConfName = "postgresql.auto.conf"

var settingLine = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=?\s*(.*)$`)

// autoConf is postgresql.auto.conf as lines, edited the way ALTER SYSTEM
// would: one "name = 'value'" line per setting, other lines kept verbatim.
type autoConf struct {
	lines []string
}

func parseAutoConf(b []byte) *autoConf {
	s := strings.TrimRight(string(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))), "\n")
	if s == "" {
		return &autoConf{}
	}
	return &autoConf{lines: strings.Split(s, "\n")}
}

func (a *autoConf) bytes() []byte {
	if len(a.lines) == 0 {
		return nil
	}
	return []byte(strings.Join(a.lines, "\n") + "\n")
}

func lineName(line string) (name, rest string, ok bool) {
	t := strings.TrimSpace(line)
	if t == "" || strings.HasPrefix(t, "#") {
		return "", "", false
	}
	m := settingLine.FindStringSubmatch(line)
	if m == nil {
		return "", "", false
	}
	return strings.ToLower(m[1]), m[2], true
}

// get returns the last value of name (the one PostgreSQL uses).
func (a *autoConf) get(name string) (string, bool) {
	name = strings.ToLower(name)
	val, found := "", false
	for _, l := range a.lines {
		if n, rest, ok := lineName(l); ok && n == name {
			val, found = unquoteGUC(rest), true
		}
	}
	return val, found
}

// set writes name = 'value' in place of the first line for name, drops
// later duplicates, or appends.
func (a *autoConf) set(name, value string) {
	name = strings.ToLower(name)
	line := name + " = " + quoteGUC(value)
	out := a.lines[:0:0]
	done := false
	for _, l := range a.lines {
		if n, _, ok := lineName(l); ok && n == name {
			if !done {
				out = append(out, line)
				done = true
			}
			continue
		}
		out = append(out, l)
	}
	if !done {
		out = append(out, line)
	}
	a.lines = out
}

// quoteGUC quotes as PostgreSQL's ALTER SYSTEM does: single quotes, with
// quotes and backslashes doubled (escape_single_quotes_ascii).
func quoteGUC(v string) string {
	return "'" + strings.NewReplacer(`'`, `''`, `\`, `\\`).Replace(v) + "'"
}

// unquoteGUC reads a configuration-file value: a quoted string (with doubled quotes
// and backslash escapes, as GUC_scanstr) or a bare word up to a comment.
func unquoteGUC(rest string) string {
	rest = strings.TrimSpace(rest)
	if !strings.HasPrefix(rest, "'") {
		if i := strings.Index(rest, "#"); i >= 0 {
			rest = rest[:i]
		}
		return strings.TrimSpace(rest)
	}
	var b strings.Builder
	for i := 1; i < len(rest); i++ {
		c := rest[i]
		switch {
		case c == '\'' && i+1 < len(rest) && rest[i+1] == '\'':
			b.WriteByte('\'')
			i++
		case c == '\'':
			return b.String()
		case c == '\\' && i+1 < len(rest):
			i++
			switch rest[i] {
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(rest[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
