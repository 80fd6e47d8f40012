package membership

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/openefm/efm/internal/atomicfile"
)

// writeNodesFile replaces path atomically (temp file in the same
// directory, fsync, rename) so a crash never leaves a half-written list
// that a restarting agent would then fail to join through.
func writeNodesFile(path, cluster string, addrs []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s.nodes: address:port of the other members of cluster %s, separated by whitespace.\n", cluster, cluster)
	fmt.Fprintf(&b, "# Rewritten by the efm agent on membership change at %s (set stable.nodes.file=true to keep it).\n",
		time.Now().UTC().Format(time.RFC3339))
	b.WriteString(strings.Join(addrs, " "))
	b.WriteString("\n")
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := atomicfile.Write(path, []byte(b.String()), mode); err != nil {
		return fmt.Errorf("writing nodes file %s: %w", path, err)
	}
	return nil
}

// readNodesFile returns the sorted addresses a .nodes file holds now,
// space-joined ("" when missing or unreadable).
func readNodesFile(path string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var addrs []string
	for line := range strings.Lines(string(b)) {
		line, _, _ = strings.Cut(line, "#")
		addrs = append(addrs, strings.Fields(line)...)
	}
	slices.Sort(addrs)
	return strings.Join(addrs, " ")
}
