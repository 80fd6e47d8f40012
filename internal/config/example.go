package config

import (
	"bytes"
	"fmt"
	"strings"
)

// Example returns efm.properties.example: every known key with its default
// (or an example value for a required key) and a one-line meaning, grouped
// as in EFM's documentation. Keys with no effect and keys of features not
// built yet are written commented out, so a copy of the example starts
// without warnings about them. It parses as is.
func Example() []byte {
	var b bytes.Buffer
	b.WriteString(`# OpenEFM cluster properties: /etc/efm/<cluster>.properties
#
# The dialect of EDB Failover Manager 5.x: key=value, no quotes, '#' starts a
# comment, '\' at the end of a line continues it, \n in a value is a newline.
# The cluster name is this file's base name. An EFM 5.x file is read with EFM's
# keys and defaults; moving one over, regenerate db.password.encrypted with
# 'efm encrypt <cluster>' and the agent key with 'efm generate-key <cluster>'.
# Empty values take the default. Unknown keys, bad values and missing
# required keys stop the agent with one line each; 'efm check-conf <cluster>'
# shows them without starting anything. Changes apply at the agent's restart.
#
# Lines written '#key=value' are keys that are accepted but do nothing here
# (EFM's Java implementation only, or a feature not built yet); setting one
# makes the agent name it in a warning at start.
`)
	section := ""
	for i := range specs {
		s := &specs[i]
		if s.Section != section {
			section = s.Section
			fmt.Fprintf(&b, "\n\n# ==== %s ====\n", section)
		}
		b.WriteString("\n# " + sentence(s.Meaning) + "\n")
		var notes []string
		switch {
		case s.Database && s.Witness:
			notes = append(notes, "Required on database nodes and witnesses.")
		case s.Database:
			notes = append(notes, "Required on database nodes.")
		}
		if s.Kind == KindEnum || s.Kind == KindLogLevel {
			notes = append(notes, "One of: "+strings.Join(s.Values, ", ")+".")
		}
		switch {
		case s.Section == secTimers && s.Example != "" && s.Example != s.Default:
			// The example starts a new user on the fast profile; a file
			// that does not set the key keeps EFM's default.
			notes = append(notes, "Default: "+s.Default+" (EFM's, when the key is not set); this file sets the fast profile.")
		case s.Default != "":
			notes = append(notes, "Default: "+s.Default+".")
		}
		switch s.Status {
		case NoEffect:
			notes = append(notes, "No effect in OpenEFM (EFM's Java implementation only).")
		case NotBuilt:
			notes = append(notes, "Not implemented in OpenEFM yet: accepted, and named in the startup warning when set.")
		case Extension:
			notes = append(notes, "OpenEFM extension: EDB EFM 5.1+ would refuse this key.")
		}
		if len(notes) > 0 {
			b.WriteString("# " + strings.Join(notes, " ") + "\n")
		}
		value := s.Default
		if s.Example != "" {
			value = s.Example
		}
		if s.Status == NoEffect || s.Status == NotBuilt {
			b.WriteString("#")
		}
		b.WriteString(s.Name + "=" + value + "\n")
	}
	return b.Bytes()
}

// sentence capitalises a meaning for the example, unless it starts with a
// key name, and ends it with a full stop.
func sentence(m string) string {
	first, _, _ := strings.Cut(m, " ")
	if !strings.Contains(first, ".") && m != "" && m[0] >= 'a' && m[0] <= 'z' {
		m = strings.ToUpper(m[:1]) + m[1:]
	}
	return m + "."
}
