package main

import (
	"flag"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// doublePrefix catches an error prefixed twice ("efm: efm:",
// "efm promote: efm promote:", "error: error:").
var doublePrefix = regexp.MustCompile(`(efm [a-z-]+: |efm: |error: )(efm [a-z-]+: |efm: |error: )`)

func verbs() []string {
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TestUsageErrors: every verb answers a wrong command line with exit 2, the
// mistake prefixed once with "efm <verb>:", and its synopsis; nothing is
// read or asked before (the configuration directory is empty).
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	type usageCase struct {
		verb string
		args []string // after the verb; -config-dir dir is added
		want string
	}
	var cases []usageCase
	for _, v := range verbs() {
		c := commands[v]
		cases = append(cases, usageCase{v, []string{"-bogus"}, "flag provided but not defined: -bogus"})
		if c.nargs < 0 {
			cases = append(cases, usageCase{v, []string{"extra"}, "takes no arguments, got: extra"})
			continue
		}
		cases = append(cases,
			usageCase{v, nil, "missing the cluster name"},
			usageCase{v, []string{""}, `"" is not a cluster name`},
			usageCase{v, []string{"../c"}, `"../c" is not a cluster name`},
		)
		too := []string{"c"}
		for range c.nargs + 1 {
			too = append(too, "10.0.0.1")
		}
		cases = append(cases, usageCase{v, too, "expected"})
		if c.nargs > 0 {
			cases = append(cases, usageCase{v, []string{"c"}, "expected"})
		}
	}
	cases = append(cases,
		usageCase{"promote", []string{"c", "-sourcenode", "10.0.0.2"}, "-sourcenode is only valid with -switchover"},
		usageCase{"promote", []string{"c", "-quiet"}, "-quiet is only valid with -switchover"},
		usageCase{"promote", []string{"c", "-switchover", "-sourcenode", "n2"}, `-sourcenode: "n2" is not an IP address`},
		usageCase{"promote", []string{"c", "-switchover=maybe"}, "invalid boolean value"},
		usageCase{"allow-node", []string{"c", "n2"}, `"n2" is not an IP address`},
		usageCase{"disallow-node", []string{"c", "n2"}, `"n2" is not an IP address`},
		usageCase{"set-priority", []string{"c", "n2", "1"}, `"n2" is not an IP address`},
		usageCase{"set-priority", []string{"c", "10.0.0.2", "first"}, `priority "first" is not a whole number of 0 or more`},
		usageCase{"set-priority", []string{"c", "10.0.0.2", "-1"}, `priority "-1" is not a whole number of 0 or more`},
		usageCase{"set-priority", []string{"c", "10.0.0.2", "1.5"}, `priority "1.5" is not a whole number`},
	)
	for _, tc := range cases {
		args := append([]string{tc.verb, "-config-dir", dir}, tc.args...)
		out, errOut, code := efm(t, args...)
		if code != 2 || !strings.Contains(errOut, "efm "+tc.verb+": ") || !strings.Contains(errOut, tc.want) ||
			!strings.Contains(errOut, "\nUsage: efm "+tc.verb) || out != "" || doublePrefix.MatchString(errOut) {
			t.Errorf("efm %q: exit %d, stdout %q, stderr %q; want exit 2, %q once, prefixed with \"efm %s: \", and the usage line",
				args, code, out, errOut, tc.want, tc.verb)
		}
	}
}

// TestCommandLineErrors: mistakes before any verb is known, exit 2 too.
func TestCommandLineErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "Usage:"},
		{[]string{"frobnicate", "c"}, `efm: unknown command "frobnicate"`},
		{[]string{"-config-dir", "/etc/efm"}, `efm: unknown command "-config-dir"`},
		{[]string{"help", "frobnicate"}, `efm help: want one command name, got "frobnicate"`},
		{[]string{"--help", "promote", "extra"}, `want one command name, got "promote extra"`},
		{[]string{"promote", "c", "-config-dir"}, "efm promote: flag needs an argument: -config-dir"},
	} {
		out, errOut, code := efm(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || out != "" || doublePrefix.MatchString(errOut) {
			t.Errorf("efm %q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

// TestRefusalsExitOne: a command line that is right but a command that
// fails or is refused exits 1, its error prefixed once.
func TestRefusalsExitOne(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("EFMPASS", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"upgrade-conf", "c", "-source", dir}, "efm upgrade-conf: not implemented yet"},
		{[]string{"create-standby", "c"}, "c.properties"},
		{[]string{"encrypt", "c", "--from-env"}, "efm encrypt: --from-env given but EFMPASS is not set"},
		{[]string{"check-conf", "c"}, "c.properties"},
		{[]string{"cluster-status", "c"}, "c.properties"},
		{[]string{"set-priority", "c", "10.0.0.2", "0"}, "c.properties"},
		{[]string{"promote", "c", "-switchover", "-sourcenode", "10.0.0.2", "-quiet"}, "c.properties"},
	} {
		args := append(tc.args, "-config-dir", dir)
		out, errOut, code := efm(t, args...)
		if code != 1 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "Usage:") || doublePrefix.MatchString(errOut) {
			t.Errorf("efm %q: exit %d, stdout %q, stderr %q; want exit 1 and %q, no usage", args, code, out, errOut, tc.want)
		}
	}
}

// TestUsageLinesMatchFlags: a command's usage line advertises exactly the
// options it defines (upgrade-conf advertised -source without one), and
// --help shows each of them.
func TestUsageLinesMatchFlags(t *testing.T) {
	option := regexp.MustCompile(`-{1,2}([a-z][a-z-]*)`)
	for _, v := range verbs() {
		c := commands[v]
		fs := c.flagSet(newInvocation(c))
		advertised := map[string]bool{}
		for _, m := range option.FindAllStringSubmatch(c.args, -1) {
			advertised[m[1]] = true
			if fs.Lookup(m[1]) == nil {
				t.Errorf("efm %s: the usage line %q advertises -%s, which it does not define", v, c.synopsis(), m[1])
			}
		}
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name != "config-dir" && !advertised[f.Name] {
				t.Errorf("efm %s: -%s is defined but not in the usage line %q", v, f.Name, c.synopsis())
			}
		})
		out, _, code := efm(t, v, "--help")
		if code != 0 || !strings.Contains(out, "Usage: "+c.synopsis()) {
			t.Errorf("efm %s --help: exit %d:\n%s", v, code, out)
		}
	}
}
