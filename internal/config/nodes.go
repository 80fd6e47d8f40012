package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/openefm/efm/internal/atomicfile"
)

// ReadNodes reads a <cluster>.nodes file: address:port entries separated by
// blanks or newlines, '#' starting a comment to the end of the line. An
// empty file is fine (the first node of a cluster). Every bad entry is
// reported, with its line number, in Errors.
func ReadNodes(path string) ([]HostPort, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading cluster nodes: %w", err)
	}
	return parseNodes(path, data)
}

func parseNodes(path string, data []byte) ([]HostPort, error) {
	ps := &problems{file: path}
	var out []HostPort
	seen := make(map[HostPort]bool)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		for _, f := range strings.Fields(text) {
			hp, err := parseHostPort(f)
			if err != nil {
				ps.addLine(line, "%v", err)
				continue
			}
			if seen[hp] {
				continue // listed twice: harmless, keep the first
			}
			seen[hp] = true
			out = append(out, hp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading cluster nodes %s: %w", path, err)
	}
	if len(ps.errs) > 0 {
		return nil, ps.errs
	}
	return out, nil
}

// defaultNodesHeader starts a nodes file that had no comment of its own.
const defaultNodesHeader = `# Addresses (address:port, IPv6 as [addr]:port) of the cluster's agents,
# separated by blanks or newlines. The agent rewrites this file when members
# join or leave (unless stable.nodes.file=true) and never lists itself.
`

// WriteNodes replaces path with the given address:port entries, one per
// line, leaving out self and duplicates. The comment lines at the top of
// the old file (or a default header) are kept. The write is atomic: a
// temporary file in the same directory, synced, then renamed over path, so
// a crash leaves the old or the new list, never half of one.
func WriteNodes(path string, nodes []string, self string) error {
	ps := &problems{file: path}
	var selfHP HostPort
	if self != "" {
		hp, err := parseHostPort(self)
		if err != nil {
			return fmt.Errorf("writing %s: self address: %w", path, err)
		}
		selfHP = hp
	}
	var body strings.Builder
	seen := map[HostPort]bool{selfHP: true}
	for _, n := range nodes {
		hp, err := parseHostPort(strings.TrimSpace(n))
		if err != nil {
			ps.add("", "not written: %v", err)
			continue
		}
		if seen[hp] {
			continue
		}
		seen[hp] = true
		body.WriteString(hp.String() + "\n")
	}
	if len(ps.errs) > 0 {
		return ps.errs
	}

	header, mode, err := nodesHeader(path)
	if err != nil {
		return err
	}
	return writeAtomic(path, []byte(header+body.String()), mode)
}

// nodesHeader returns the leading comment block of the current file and its
// permissions, or the default header and 0644 when there is no file.
func nodesHeader(path string) (string, fs.FileMode, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return defaultNodesHeader, 0o644, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("writing cluster nodes: %w", err)
	}
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	var header strings.Builder
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			break
		}
		header.WriteString(line)
	}
	h := header.String()
	if h == "" {
		return defaultNodesHeader, mode, nil
	}
	if !strings.HasSuffix(h, "\n") {
		h += "\n"
	}
	return h, mode, nil
}

func writeAtomic(path string, data []byte, mode fs.FileMode) error {
	if err := atomicfile.Write(path, data, mode); err != nil {
		return fmt.Errorf("writing cluster nodes: %w", err)
	}
	return nil
}
