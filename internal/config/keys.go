package config

import "sort"

// Kind is how a key's value is written and checked.
type Kind string

// The value kinds. Empty values always mean "unset": the default applies.
const (
	KindString    Kind = "string"    // free text, surrounding blanks trimmed
	KindText      Kind = "text"      // free text kept verbatim (may hold \n)
	KindBool      Kind = "bool"      // true or false, any case (as EFM)
	KindInt       Kind = "int"       // whole number within Key.Min..Key.Max
	KindPort      Kind = "port"      // TCP/UDP port 1-65535
	KindSeconds   Kind = "seconds"   // whole seconds within Key.Min..Key.Max, a time.Duration
	KindEnum      Kind = "enum"      // one of Key.Values, any case
	KindLogLevel  Kind = "loglevel"  // TRACE DEBUG INFO WARN ERROR, a slog.Level
	KindIPPort    Kind = "ip:port"   // IP literal and port; IPv6 as [addr]:port
	KindHost      Kind = "host"      // IP literal or DNS host name
	KindHostList  Kind = "hosts"     // space-separated IPs or host names
	KindEmailList Kind = "emails"    // space-separated mail addresses
	KindPath      Kind = "path"      // absolute file or directory path
	KindCommand   Kind = "command"   // command line starting with an absolute path
	KindInterface Kind = "interface" // network interface name, no :label
	KindJDBCProps Kind = "jdbcprops" // name=value pairs joined by &
)

// Status says what OpenEFM does with a key.
type Status string

const (
	// Active keys are implemented with EFM's meaning.
	Active Status = "active"
	// NoEffect keys only configured EFM's Java implementation (JVM, JGroups,
	// JDBC driver logging, the TCP admin port). They are accepted so an EFM
	// file loads unchanged, and named in one startup warning.
	NoEffect Status = "no-effect"
	// NotBuilt keys belong to features OpenEFM does not implement yet (see
	// notBuilt). They are accepted and named in one startup warning.
	NotBuilt Status = "not-built"
	// Extension keys are OpenEFM's own; EDB EFM does not know them.
	Extension Status = "extension"
)

// Key describes one property: its name, default, meaning and checks.
type Key struct {
	Name    string
	Section string // heading it belongs under in efm.properties.example
	Kind    Kind
	// Default is the value used when the key is absent or empty, as it
	// would be written in the file; "" means no default (unset). Defaults
	// computed from other keys are described in Meaning instead.
	Default string
	Meaning string
	Values  []string // the accepted values of a KindEnum, canonical spelling
	Min     int      // bounds for KindInt and KindSeconds
	Max     int
	// Database and Witness: the key must be set on a database node
	// (is.witness=false) / on a witness. EFM's "A"/"W" columns, limited to
	// keys without a default (a key with one is never missing).
	Database bool
	Witness  bool
	// Example is the value efm.properties.example shows for a key that has
	// no default, when an example helps (required keys).
	Example string
	Status  Status
}

// Keys returns every known key, in the order of efm-reference §1 followed
// by OpenEFM's extensions. The slice is a copy.
func Keys() []Key {
	out := make([]Key, len(specs))
	for i, s := range specs {
		out[i] = s.Key
	}
	return out
}

// LookupKey returns the description of a known key.
func LookupKey(name string) (Key, bool) {
	s, ok := specByName[name]
	if !ok {
		return Key{}, false
	}
	return s.Key, true
}

// spec binds a Key to the Config field it fills.
type spec struct {
	Key
	// field returns a pointer to the field of c this key fills: *string,
	// *bool, *int, *time.Duration, *HostPort, *[]string, *slog.Level or
	// *map[string]string, matching Kind.
	field func(c *Config) any
}

var specByName = func() map[string]*spec {
	m := make(map[string]*spec, len(specs))
	for i := range specs {
		s := &specs[i]
		if _, dup := m[s.Name]; dup {
			panic("config: key listed twice: " + s.Name)
		}
		if notBuilt[s.Name] {
			s.Status = NotBuilt
		}
		if s.Status == "" {
			s.Status = Active
		}
		if s.Kind == KindPort {
			s.Min, s.Max = 1, 65535
		}
		m[s.Name] = s
	}
	for name := range notBuilt {
		if _, ok := m[name]; !ok {
			panic("config: notBuilt names an unknown key: " + name)
		}
	}
	return m
}()

// knownNames returns every key name, sorted.
func knownNames() []string {
	names := make([]string, 0, len(specs))
	for _, s := range specs {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return names
}
