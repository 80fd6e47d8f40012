//go:build !efm_unsafe_nofence

package agent

import "github.com/openefm/efm/internal/core"

// The default build: every database operation the core asks for is
// carried out (agent/unsafe_nofence.go is the chaos runner's broken
// counterpart, compiled only with -tags efm_unsafe_nofence).

const unsafeBuild = ""

func unsafeSkip(core.DBOp) bool { return false }
