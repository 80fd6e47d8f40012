// Package subject is the catalogue of notifications: EDB EFM's subjects
// with their levels, and the few OpenEFM adds. It does no I/O, so the
// failover core names its notifications with it (core.Notify carries a
// Subject) and internal/notify delivers them; neither spells a subject by
// hand, and operators' mail filters written for EFM keep working.
package subject

import (
	"fmt"
	"strings"
)

// Level is a notification's severity: INFO < WARNING < SEVERE. The zero
// Level is none (no Subject has it).
type Level int

const (
	// Info is informational.
	Info Level = iota + 1
	// Warning asks the operator to check the system (a failover happened).
	Warning
	// Severe asks the operator to act now.
	Severe
)

func (l Level) String() string {
	switch l {
	case Info:
		return "INFO"
	case Warning:
		return "WARNING"
	case Severe:
		return "SEVERE"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// Subject is one notification: its level and text. Text may hold {node}
// and {cluster}, filled in by Render. Subjects are comparable: compare
// them, not their texts.
type Subject struct {
	Level Level
	Text  string
	// Ours marks a subject EFM does not have.
	Ours bool
}

// Render returns the subject text with {node} and {cluster} filled in.
func (s Subject) Render(node, cluster string) string {
	return strings.NewReplacer("{node}", node, "{cluster}", cluster).Replace(s.Text)
}

// String is the subject line's body as EFM writes it: "[LEVEL] text",
// placeholders unfilled.
func (s Subject) String() string { return "[" + s.Level.String() + "] " + s.Text }

// catalogue collects every Subject as the package variables are
// initialised (it has no initialiser, so it is ready before them).
var catalogue []Subject

func register(s Subject) Subject { catalogue = append(catalogue, s); return s }

func info(t string) Subject        { return register(Subject{Level: Info, Text: t}) }
func warning(t string) Subject     { return register(Subject{Level: Warning, Text: t}) }
func severe(t string) Subject      { return register(Subject{Level: Severe, Text: t}) }
func oursWarning(t string) Subject { return register(Subject{Level: Warning, Text: t, Ours: true}) }
func oursSevere(t string) Subject  { return register(Subject{Level: Severe, Text: t, Ours: true}) }

// All returns the whole catalogue, for documentation and tests.
func All() []Subject { return append([]Subject(nil), catalogue...) }
