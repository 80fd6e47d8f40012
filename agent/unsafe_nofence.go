//go:build efm_unsafe_nofence

package agent

import "github.com/openefm/efm/internal/core"

// This file exists only in a binary built with -tags efm_unsafe_nofence,
// the negative control of the chaos runner (integration/chaos,
// docs/chaos.md): the agent reports stopping and fencing its database done
// without doing either, so a primary that lost its lease keeps taking
// writes. The runner must catch the split brain that follows. Never ship
// such a binary; the agent says so at start.

const unsafeBuild = "UNSAFE TEST BUILD (efm_unsafe_nofence): this agent never stops or fences its database"

func unsafeSkip(op core.DBOp) bool { return op == core.OpStopDB || op == core.OpFenceDB }
