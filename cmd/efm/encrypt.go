package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/openefm/efm/internal/pg"
)

func init() {
	register(&command{
		name:    "encrypt",
		args:    "[--from-env]",
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
		in := newSecretReader(inv.stdin, inv.stderr)
		first, err := in.read("This utility will generate an encrypted password for you to place in your\nEFM cluster property file: " + inv.cluster + ".properties\nPlease enter the password and hit enter: ")
		if err != nil {
			return inv.errorf("efm encrypt: reading the password: %v", err)
		}
		second, err := in.read("Please enter the password again to confirm: ")
		if err != nil {
			return inv.errorf("efm encrypt: reading the password a second time: %v (from a pipe, give it twice, one per line)", err)
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

// secretReader reads the password lines: without echo from a terminal, or
// plainly from a pipe (scripts, tests). One buffered reader serves every
// line: a reader per line would swallow the confirmation line of a pipe
// into the first one's buffer.
type secretReader struct {
	tty    int // terminal file descriptor, -1 if stdin is not a terminal
	lines  *bufio.Reader
	prompt io.Writer
}

func newSecretReader(stdin io.Reader, prompt io.Writer) *secretReader {
	r := &secretReader{tty: -1, prompt: prompt}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		r.tty = int(f.Fd())
	} else if stdin != nil {
		r.lines = bufio.NewReader(stdin)
	}
	return r
}

func (r *secretReader) read(prompt string) (string, error) {
	fmt.Fprint(r.prompt, prompt)
	if r.tty >= 0 {
		b, err := term.ReadPassword(r.tty)
		fmt.Fprintln(r.prompt)
		return string(b), err
	}
	if r.lines == nil {
		return "", errors.New("no standard input")
	}
	line, err := r.lines.ReadString('\n')
	// Not echoed: end the prompt's line, as a terminal would.
	fmt.Fprintln(r.prompt)
	if err != nil && line == "" {
		if errors.Is(err, io.EOF) {
			return "", errors.New("standard input ended")
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
