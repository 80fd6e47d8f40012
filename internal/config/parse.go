package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/magiconair/properties"
)

// parse is Load and Parse after the file is read: path only names the file
// in messages and gives Dir.
func parse(path, cluster string, data []byte) (*Config, []string, error) {
	ps := &problems{file: path}
	raw, err := readRaw(data)
	if err != nil {
		ps.add("", "cannot read it as key=value properties: %s", strings.TrimPrefix(err.Error(), "properties: "))
		return nil, nil, ps.errs
	}
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs // derived paths (agent.key.file) must not depend on the cwd
	}
	c := &Config{Cluster: cluster, Dir: dir, Path: path, set: make(map[string]bool), bad: make(map[string]bool)}

	for i := range specs {
		s := &specs[i]
		v, given := raw[s.Name]
		v = s.trim(v)
		if given && v != "" {
			c.set[s.Name] = true
		} else {
			v = s.Default
		}
		if v == "" {
			continue // unset, no default: the field keeps its zero value
		}
		if err := s.decode(c, v); err != nil {
			ps.add(s.Name, "%v", err)
			c.bad[s.Name] = true
		}
	}
	for _, key := range sortedKeys(raw) {
		if _, ok := specByName[key]; ok {
			continue
		}
		ps.add(key, "%s", unknownKeyMessage(key))
	}
	c.applyDerived()
	ps.errs = append(ps.errs, c.check()...)
	warnings := c.warnings(raw)
	order, count := repeatedKeys(data)
	for _, k := range order {
		warnings = append(warnings, fmt.Sprintf("%s: %s: set %d times; the last value, %q, is used", path, k, count[k], raw[k]))
	}
	if len(ps.errs) > 0 {
		return nil, warnings, ps.errs
	}
	return c, warnings, nil
}

// trim drops the blanks around a value; Java keeps trailing ones, but a
// trailing blank after a port or a path is always a typing accident. Free
// text keeps its trailing blanks.
func (s *spec) trim(v string) string {
	if s.Kind == KindText {
		if strings.TrimSpace(v) == "" {
			return ""
		}
		return v
	}
	return strings.TrimSpace(v)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// unknownKeyMessage explains a key that is not in the table: the new name
// of a legacy key, or the nearest known key.
func unknownKeyMessage(key string) string {
	if why, ok := legacy[key]; ok {
		return "no longer accepted: " + why
	}
	if near := nearestKey(key); near != "" {
		return fmt.Sprintf("unknown property; did you mean %s?", near)
	}
	return "unknown property; efm.properties.example lists the known ones"
}

// derived lists the keys whose default comes from other keys; Marshal
// writes them only when the file set them.
var derived = map[string]bool{"db.config.dir": true, "agent.key.file": true, "db.host": true}

func (c *Config) applyDerived() {
	if c.DBConfigDir == "" {
		c.DBConfigDir = c.DBDataDir
	}
	if c.AgentKeyFile == "" {
		c.AgentKeyFile = filepath.Join(c.Dir, c.Cluster+".key")
	}
	if c.DBHost == "" {
		c.DBHost = c.BindAddress.Host
	}
}

// encode writes the field of c that s fills back in the file's dialect;
// "" means unset.
func (s *spec) encode(c *Config) string {
	switch v := s.field(c).(type) {
	case *string:
		return *v
	case *bool:
		return strconv.FormatBool(*v)
	case *int:
		if *v == 0 && s.Default == "" {
			return ""
		}
		return strconv.Itoa(*v)
	case *time.Duration:
		if *v == 0 && s.Default == "" {
			return ""
		}
		if *v%time.Second != 0 {
			// Not whole seconds: only a Config built in code gets here.
			// Written as a Go duration it fails decoding, as it should.
			return v.String()
		}
		return strconv.FormatInt(int64(*v/time.Second), 10)
	case *HostPort:
		return v.String()
	case *[]string:
		return strings.Join(*v, " ")
	case *slog.Level:
		return levelName(*v)
	case *map[string]string:
		pairs := make([]string, 0, len(*v))
		for _, k := range sortedKeys(*v) {
			pairs = append(pairs, k+"="+(*v)[k])
		}
		return strings.Join(pairs, "&")
	}
	panic(fmt.Sprintf("config: key %s has an unhandled field type", s.Name))
}

// Value returns the value of a known key in c as it would be written in
// the file ("" when unset), and false for an unknown key. check-conf uses it
// to show the effective configuration.
func (c *Config) Value(key string) (string, bool) {
	s, ok := specByName[key]
	if !ok {
		return "", false
	}
	return s.encode(c), true
}

// Marshal writes c as a properties file that Parse reads back into the
// same values: every key in table order, computed defaults only when the
// file set them.
func (c *Config) Marshal() []byte {
	p := properties.NewProperties()
	p.DisableExpansion = true
	for i := range specs {
		s := &specs[i]
		if derived[s.Name] && !c.IsSet(s.Name) {
			continue
		}
		p.Set(s.Name, s.encode(c)) //nolint:errcheck // cannot fail with expansion off
	}
	var buf bytes.Buffer
	p.Write(&buf, properties.UTF8) //nolint:errcheck // bytes.Buffer does not fail
	return buf.Bytes()
}
