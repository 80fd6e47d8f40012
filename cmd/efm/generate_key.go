package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/openefm/efm/internal/membership"
)

func init() {
	register(&command{
		name:    "generate-key",
		args:    "[-force]",
		summary: "write a new cluster key for encrypt.agent.messages (OpenEFM only)",
		detail: `Writes a random 256-bit key, base64, to agent.key.file (default
<config dir>/<cluster>.key) with mode 0600. Copy the same file to every node of
the cluster, owned by the user the agent runs as. An existing key is kept
unless -force is given: replacing it on one node alone splits the cluster.`,
		flags: func(fs *flag.FlagSet, inv *invocation) {
			boolFlag(fs, inv, "force", "replace an existing key file")
		},
		run: runGenerateKey,
	})
}

func runGenerateKey(inv *invocation) int {
	cfg, _, ok := inv.loadConfig(false)
	if !ok {
		return 1
	}
	path := cfg.AgentKeyFile
	if _, err := os.Stat(path); err == nil && !inv.flag("force") {
		return inv.errorf("efm generate-key: %s already exists; every node must share one key, so it is kept (use -force to replace it)", path)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return inv.errorf("efm generate-key: %v", err)
	}
	key, err := membership.GenerateKey()
	if err != nil {
		return inv.errorf("efm generate-key: %v", err)
	}
	if err := membership.WriteKeyFile(path, key); err != nil {
		return inv.errorf("efm generate-key: %v", err)
	}
	fmt.Fprintf(inv.stdout, "Wrote a new cluster key to %s (mode 0600). Copy it to every node of cluster %s, then set encrypt.agent.messages=true.\n", path, cfg.Cluster)
	return 0
}
