package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/openefm/efm/internal/pg"
)

func init() {
	register(&command{
		name:    "encrypt",
		summary: "encrypt the database password for db.password.encrypted",
		detail: `Prompts twice for the password (or reads it from the EFMPASS environment
variable with --from-env) and prints the value for db.password.encrypted. The
cluster name is part of the key, so the value only works for this cluster.
This is obfuscation, as in EDB EFM, not secrecy: anyone who can read the
properties file and knows the cluster name can recover the password. Protect
the file with its mode, or use script.db.password.`,
		flags: func(fs *flag.FlagSet, inv *invocation) {
			boolFlag(fs, inv, "from-env", "read the password from the EFMPASS environment variable")
		},
		run: runEncrypt,
	})
}

func runEncrypt(inv *invocation) int {
	var pw string
	if inv.flag("from-env") {
		var ok bool
		if pw, ok = os.LookupEnv("EFMPASS"); !ok || pw == "" {
			return inv.errorf("efm encrypt: --from-env given but EFMPASS is not set")
		}
	} else {
		first, err := readSecret(inv, "This utility will generate an encrypted password for you to place in your\nEFM cluster property file: "+inv.cluster+".properties\nPlease enter the password and hit enter: ")
		if err != nil {
			return inv.errorf("efm encrypt: %v", err)
		}
		second, err := readSecret(inv, "Please enter the password again to confirm: ")
		if err != nil {
			return inv.errorf("efm encrypt: %v", err)
		}
		if first != second {
			return inv.errorf("efm encrypt: the passwords do not match")
		}
		pw = first
	}
	token, err := pg.EncryptPassword(inv.cluster, pw)
	if err != nil {
		return inv.errorf("efm encrypt: %v", err)
	}
	props := filepath.Join(inv.configDir, inv.cluster+".properties")
	if _, err := os.Stat(props); err != nil {
		fmt.Fprintf(inv.stderr, "warning: %s not found; the value below only works for a cluster named %q\n", props, inv.cluster)
	}
	fmt.Fprintf(inv.stdout, "The encrypted password is %s\nPlease paste this into your %s.properties file\n\tdb.password.encrypted=%s\n", token, inv.cluster, token)
	return 0
}

// readSecret reads one line without echo from a terminal, or plainly from a
// pipe (scripts and tests).
func readSecret(inv *invocation, prompt string) (string, error) {
	fmt.Fprint(inv.stderr, prompt)
	if f, ok := inv.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(inv.stderr)
		return string(b), err
	}
	line, err := bufio.NewReader(inv.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
