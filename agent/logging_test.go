package agent

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/openefm/efm/internal/config"
)

// Every level the agent writes is a name an operator can set in
// efm.loglevel, TRACE included, which slog alone would write as DEBUG-4.
func TestLogLevelsAreWrittenByName(t *testing.T) {
	tests := []struct {
		level slog.Level
		want  string
	}{
		{config.LevelTrace, "level=TRACE"},
		{slog.LevelDebug, "level=DEBUG"},
		{slog.LevelInfo, "level=INFO"},
		{slog.LevelWarn, "level=WARN"},
		{slog.LevelError, "level=ERROR"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		log, closer, err := OpenLog(&out, config.LevelTrace, "", "efm")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { closer.Close() })
		log.With("node", "10.0.0.1").Log(context.Background(), tt.level, "probe")
		if got := out.String(); !strings.Contains(got, tt.want+" ") {
			t.Errorf("logged at %v: %q, want %s", tt.level, got, tt.want)
		}
	}
}
