package notify

import (
	"fmt"
	"log/slog"
	"strings"
)

// Level is a notification severity: INFO < WARNING < SEVERE.
type Level int

const (
	// Info is informational.
	Info Level = iota
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

// ParseLevel reads notification.level (case-insensitive).
func ParseLevel(s string) (Level, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "INFO":
		return Info, nil
	case "WARNING":
		return Warning, nil
	case "SEVERE":
		return Severe, nil
	}
	return Info, fmt.Errorf("notification.level=%q: accepted values are INFO, WARNING, SEVERE", s)
}

// slogLevel is the log level a notification is written at.
func (l Level) slogLevel() slog.Level {
	switch l {
	case Warning:
		return slog.LevelWarn
	case Severe:
		return slog.LevelError
	}
	return slog.LevelInfo
}
