package notify

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/openefm/efm/internal/notify/subject"
)

// Level is a notification severity: INFO < WARNING < SEVERE. It is the
// catalogue's (package subject), named here for notification.level.
type Level = subject.Level

// The levels, as notification.level names them.
const (
	Info    = subject.Info
	Warning = subject.Warning
	Severe  = subject.Severe
)

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
func slogLevel(l Level) slog.Level {
	switch l {
	case Warning:
		return slog.LevelWarn
	case Severe:
		return slog.LevelError
	}
	return slog.LevelInfo
}
