package agent

import (
	"github.com/openefm/efm/internal/config"
	"github.com/openefm/efm/internal/core"
)

// CoreParams is the failover core's parameters for cfg, exactly as the
// agent builds them at start, so that efm check-conf predicts timings from
// the same numbers the agent will run with.
func CoreParams(cfg *config.Config) core.Params { return coreParams(cfg) }
