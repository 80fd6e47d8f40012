package integration

import (
	"regexp"
	"strings"
	"testing"

	"github.com/openefm/efm/integration/harness"
)

// logSteps prints every agent's step timings ("failover step", "promotion
// step", "switchover step" log lines, and the shell's timed database
// operations): where a failover or switchover spent its time.
func logSteps(t *testing.T, c *harness.Cluster) {
	t.Helper()
	for _, h := range c.AgentHosts() {
		p := c.Agent(h.Name)
		if p == nil {
			continue
		}
		for _, line := range strings.Split(p.Log(), "\n") {
			if strings.Contains(line, ` step" `) || strings.Contains(line, `msg="database operation"`) ||
				strings.Contains(line, `msg="database promoted"`) || strings.Contains(line, `msg="checkpoint after promotion"`) ||
				// When the primary was suspected, when the coordinator
				// (which needs it DOWN in the membership) started, and
				// when the other standbys re-pointed: a synchronous
				// client's commits wait for that too.
				strings.Contains(line, `msg="primary suspected"`) || strings.Contains(line, `msg="failover check started"`) ||
				strings.Contains(line, `msg="reconfiguring to follow the new primary"`) {
				t.Logf("%s: %s", h.Name, stepFields(line))
			}
		}
	}
}

// noise is the fields every agent line carries.
var noise = regexp.MustCompile(` (cluster|node|component|db|epoch|level)=\S+`)

// stepFields drops the fields every line carries.
func stepFields(line string) string {
	return noise.ReplaceAllString(line, "")
}
