package main

// Commands of EDB EFM that OpenEFM does not have yet. They are listed so
// that an operator's muscle memory gets a clear answer, not "unknown
// command", and a non-zero exit status so scripts notice.
func init() {
	for _, c := range []struct{ name, args, summary string }{
		{"upgrade-conf", "[-source <dir>]", "convert an older EFM properties file (not implemented yet)"},
		{"create-standby", "", "build a standby from the current primary (not implemented yet)"},
	} {
		c := c
		register(&command{
			name: c.name, args: c.args, summary: c.summary, nargs: 0,
			run: func(inv *invocation) int {
				return inv.errorf("efm %s: not implemented yet in OpenEFM", c.name)
			},
		})
	}
}
