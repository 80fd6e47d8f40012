package agent

import (
	"testing"

	"github.com/openefm/efm/internal/core"
	"github.com/openefm/efm/internal/pg"
)

// The WAL receiver state the core judges a switchover by: a receiver
// db.user may not see is "hidden", never mistaken for "not streaming".
func TestWALReceiverState(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   pg.Status
		want string
	}{
		{"streaming", pg.Status{InRecovery: true, WALReceiverPID: 42, WALReceiverStatus: "streaming"}, "streaming"},
		{"receiver visible, waiting", pg.Status{InRecovery: true, WALReceiverPID: 42, WALReceiverStatus: "waiting"}, "waiting"},
		{"no receiver", pg.Status{InRecovery: true}, ""},
		{"receiver hidden from db.user", pg.Status{InRecovery: true, WALReceiverPID: 42}, core.WALReceiverHidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := toStatus(tc.st).WALReceiver; got != tc.want {
				t.Errorf("WALReceiver = %q, want %q", got, tc.want)
			}
		})
	}
}
