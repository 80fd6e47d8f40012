// Package metrics exports an agent's state to Prometheus on
// metrics.address (an OpenEFM property; unset means no listener). The
// gauges mirror what efm cluster-status shows, so an alert can fire on the
// same facts an operator would read: this node's role, the epoch, whether
// the primary holds its lease, the members by state.
package metrics
