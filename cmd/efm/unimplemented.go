package main

import "flag"

// Commands of EDB EFM that OpenEFM does not have yet. They are listed so
// that an operator's muscle memory gets a clear answer, not "unknown
// command", and a non-zero exit status so scripts notice. They take EFM's
// options, so that EFM's command line gets that answer, not a usage error.
func init() {
	for _, c := range []struct {
		name, args, summary string
		flags               func(fs *flag.FlagSet, inv *invocation)
	}{
		{"upgrade-conf", "[-source <dir>]", "convert an older EFM properties file (not implemented yet)",
			func(fs *flag.FlagSet, inv *invocation) {
				stringFlag(fs, inv, "source", "directory of the older properties and nodes files")
			}},
	} {
		register(&command{
			name: c.name, args: c.args, summary: c.summary, nargs: 0, flags: c.flags,
			run: func(inv *invocation) int {
				return inv.errorf("efm %s: not implemented yet in OpenEFM", c.name)
			},
		})
	}
}
