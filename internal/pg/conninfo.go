package pg

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
)

// Conninfo is a libpq connection string as an ordered list of keyword/value
// pairs, so rewriting the host keeps everything else (user, port,
// application_name, sslmode, ...) in its place.
type Conninfo struct {
	pairs [][2]string
}

// ParseConninfo parses libpq's keyword/value form
// ("host=a port=5432 user='x y'") or its URI form ("postgresql://...").
func ParseConninfo(s string) (Conninfo, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "postgresql://") || strings.HasPrefix(s, "postgres://") {
		return parseConninfoURI(s)
	}
	var ci Conninfo
	i := 0
	skipSpace := func() {
		for i < len(s) && unicode.IsSpace(rune(s[i])) {
			i++
		}
	}
	for {
		skipSpace()
		if i >= len(s) {
			return ci, nil
		}
		start := i
		for i < len(s) && s[i] != '=' && !unicode.IsSpace(rune(s[i])) {
			i++
		}
		key := s[start:i]
		skipSpace()
		if i >= len(s) || s[i] != '=' || key == "" {
			// The string itself is never quoted in errors: it may hold a
			// password, and these errors reach logs and notifications.
			return Conninfo{}, fmt.Errorf("parse conninfo: missing \"=\" after %q at offset %d", key, i)
		}
		i++
		skipSpace()
		var val strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					val.WriteByte(s[i+1])
					i += 2
					continue
				}
				if c == '\'' {
					closed = true
					i++
					break
				}
				val.WriteByte(c)
				i++
			}
			if !closed {
				return Conninfo{}, fmt.Errorf("parse conninfo: unterminated quoted value for %q", key)
			}
		} else {
			for i < len(s) && !unicode.IsSpace(rune(s[i])) {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
				i++
			}
		}
		ci.pairs = append(ci.pairs, [2]string{key, val.String()})
	}
}

func parseConninfoURI(s string) (Conninfo, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Conninfo{}, fmt.Errorf("parse conninfo URI: %w", err)
	}
	var ci Conninfo
	if h := u.Hostname(); h != "" {
		ci.Set("host", h)
	}
	if p := u.Port(); p != "" {
		ci.Set("port", p)
	}
	if u.User != nil {
		ci.Set("user", u.User.Username())
		if pw, ok := u.User.Password(); ok {
			ci.Set("password", pw)
		}
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		ci.Set("dbname", db)
	}
	for k, vs := range u.Query() {
		for _, v := range vs {
			ci.Set(k, v)
		}
	}
	return ci, nil
}

// Get returns the value of key and whether it is present.
func (c Conninfo) Get(key string) (string, bool) {
	for _, p := range c.pairs {
		if p[0] == key {
			return p[1], true
		}
	}
	return "", false
}

// Set replaces key's value in place, or appends it.
func (c *Conninfo) Set(key, value string) {
	for i, p := range c.pairs {
		if p[0] == key {
			c.pairs[i][1] = value
			return
		}
	}
	c.pairs = append(c.pairs, [2]string{key, value})
}

// Delete removes key.
func (c *Conninfo) Delete(key string) {
	out := c.pairs[:0]
	for _, p := range c.pairs {
		if p[0] != key {
			out = append(out, p)
		}
	}
	c.pairs = out
}

// String renders the keyword/value form, quoting only where libpq needs it.
func (c Conninfo) String() string {
	parts := make([]string, 0, len(c.pairs))
	for _, p := range c.pairs {
		v := p[1]
		if v == "" || strings.ContainsAny(v, " \t\n\r'\\") {
			v = quoteConnValue(v)
		}
		parts = append(parts, p[0]+"="+v)
	}
	return strings.Join(parts, " ")
}

// WithHost points the connection string at a new primary: host replaced,
// hostaddr dropped (it would override host), port replaced when port > 0.
func (c Conninfo) WithHost(host string, port int) Conninfo {
	out := Conninfo{pairs: append([][2]string(nil), c.pairs...)}
	out.Delete("hostaddr")
	out.Set("host", host)
	if port > 0 {
		out.Set("port", fmt.Sprint(port))
	}
	return out
}
