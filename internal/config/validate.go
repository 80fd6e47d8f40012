package config

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Validate checks c as the agent would at start: every value within what
// its key accepts, the keys this kind of node needs, and no contradiction.
// A Config from Load or Parse always validates; Validate is for one that
// was changed or built in code. The error is Errors.
func (c *Config) Validate() error {
	ps := &problems{file: c.Path}
	var scratch Config
	for i := range specs {
		s := &specs[i]
		v := s.encode(c)
		if v == "" {
			continue
		}
		if err := s.decode(&scratch, v); err != nil {
			ps.add(s.Name, "%v", err)
		}
	}
	ps.errs = append(ps.errs, c.check()...)
	return ps.errs.orNil()
}

// check finds missing required keys and contradictions between keys.
func (c *Config) check() Errors {
	ps := &problems{file: c.Path}
	kind := "database node (is.witness=false)"
	if c.IsWitness {
		kind = "witness (is.witness=true)"
	}
	for i := range specs {
		s := &specs[i]
		need := s.Database && !c.IsWitness || s.Witness && c.IsWitness
		if !need || c.bad[s.Name] || s.encode(c) != "" {
			continue
		}
		if s.Name == "db.password.encrypted" {
			if c.ScriptDBPassword != "" {
				continue
			}
			ps.add(s.Name, "required on a %s unless script.db.password is set, but not set", kind)
			continue
		}
		ps.add(s.Name, "required on a %s but not set", kind)
	}

	bind, bindErr := netip.ParseAddr(c.BindAddress.Host)
	if bindErr == nil && bind.IsUnspecified() {
		ps.add("bind.address", "value %q is a wildcard address; accepted: this node's own IP, which names it in the cluster", c.BindAddress)
	}
	if !c.MetricsAddress.IsZero() && c.MetricsAddress == c.BindAddress {
		ps.add("metrics.address", "value %q is also bind.address; accepted: another port", c.MetricsAddress)
	}
	if c.ScriptCustomMonitor != "" && !c.IsWitness && c.CustomMonitorInterval <= 0 {
		ps.add("custom.monitor.interval", "required when script.custom.monitor is set, but not set")
	}
	c.checkVIP(ps)
	c.checkPingServer(ps)
	c.checkProbeDeadline(ps)
	return ps.errs
}

func (c *Config) checkVIP(ps *problems) {
	if c.VirtualIP == "" {
		return
	}
	if c.VirtualIPInterface == "" && !c.IsWitness {
		ps.add("virtual.ip.interface", "required on a database node when virtual.ip is set, but not set")
	}
	vip, err := netip.ParseAddr(c.VirtualIP)
	if err != nil {
		return // a host name, resolved when the VIP is used
	}
	if vip.Is4() && c.VirtualIPPrefix > 32 {
		ps.add("virtual.ip.prefix", "value %d is too long for the IPv4 virtual.ip %s; accepted: 1 to 32", c.VirtualIPPrefix, c.VirtualIP)
	}
	if vip.IsLoopback() || vip.IsUnspecified() || vip.IsMulticast() {
		ps.add("virtual.ip", "value %q cannot be a virtual IP; accepted: a unicast address on this network", c.VirtualIP)
	}
	if c.BindAddress.Host != "" && sameAddr(c.VirtualIP, c.BindAddress.Host) {
		ps.add("virtual.ip", "value %q is this node's bind.address; accepted: an address no node owns", c.VirtualIP)
	}
}

// checkPingServer applies EFM's rules: the ping target must be outside the
// cluster, or "I can reach it" says nothing about being isolated.
func (c *Config) checkPingServer(ps *problems) {
	p := c.PingServerIP
	if p == "" {
		return
	}
	const accepted = "accepted: an address outside the cluster that every node can reach"
	if ip, err := netip.ParseAddr(p); err == nil && (ip.IsLoopback() || ip.IsUnspecified()) || strings.EqualFold(strings.TrimSuffix(p, "."), "localhost") {
		ps.add("ping.server.ip", "value %q is a loopback address and cannot tell whether this node is isolated; %s", p, accepted)
		return
	}
	if c.VirtualIP != "" && sameAddr(p, c.VirtualIP) {
		ps.add("ping.server.ip", "value %q equals virtual.ip; %s", p, accepted)
	}
	if c.BindAddress.Host != "" && sameAddr(p, c.BindAddress.Host) {
		ps.add("ping.server.ip", "value %q is this node's bind.address; %s", p, accepted)
	}
}

// sameAddr compares two addresses as IPs when both are, else as names.
func sameAddr(a, b string) bool {
	ia, errA := netip.ParseAddr(a)
	ib, errB := netip.ParseAddr(b)
	if errA == nil && errB == nil {
		return ia.Unmap() == ib.Unmap()
	}
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

// jdbcUsed are the jdbc.properties names OpenEFM passes to its driver.
var jdbcUsed = map[string]bool{"sslrootcert": true, "sslcert": true, "sslkey": true}

// warnings lists what the agent should say at start, one line each.
func (c *Config) warnings(raw map[string]string) []string {
	var out []string
	warn := func(format string, args ...any) {
		out = append(out, c.Path+": "+fmt.Sprintf(format, args...))
	}
	var noEffect, later []string
	for i := range specs {
		s := &specs[i]
		v, present := raw[s.Name]
		if !present {
			continue
		}
		switch s.Status {
		case NoEffect:
			noEffect = append(noEffect, s.Name)
		case NotBuilt:
			if v = s.trim(v); v != "" && !strings.EqualFold(v, s.Default) {
				later = append(later, s.Name+"="+v)
			} else {
				later = append(later, s.Name)
			}
		}
	}
	if len(noEffect) > 0 {
		warn("%s: no effect in OpenEFM (EFM's Java implementation only); accepted so EFM files load unchanged", strings.Join(noEffect, ", "))
	}
	if len(later) > 0 {
		warn("%s: not implemented in OpenEFM yet; accepted and ignored", strings.Join(later, ", "))
	}
	var unused []string
	for name := range c.JDBCProperties {
		if !jdbcUsed[name] {
			unused = append(unused, name)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		warn("jdbc.properties: %s: no effect in OpenEFM (only sslrootcert, sslcert, sslkey are used)", strings.Join(unused, ", "))
	}
	out = append(out, c.probeWarnings()...)
	if c.RemoteTimeout > c.LocalTimeout {
		warn("remote.timeout: %s is longer than local.timeout (%s): peers may give up on this node's database before it does", c.RemoteTimeout, c.LocalTimeout)
	}
	if len(c.UserEmail) == 0 && c.ScriptNotification == "" {
		warn("user.email, script.notification: neither is set, so notifications are only logged")
	}
	if c.ScriptDBPasswordEncrypted && c.ScriptDBPassword == "" {
		warn("script.db.password.encrypted: true but script.db.password is not set; it has no effect")
	}
	return out
}
