package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/openefm/efm/internal/atomicfile"
	"github.com/openefm/efm/internal/core"
)

// stateFile keeps the core's Persisted state (epoch, vote, fence) across
// agent restarts. A vote must survive a crash, or a restarted voter could
// vote twice in one epoch and let two candidates win: every write is
// fsynced, file and directory, before the core's next action runs.
type stateFile struct{ path string }

func (s stateFile) load() (core.Persisted, error) {
	var st core.Persisted
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("reading agent state %s: %w", s.path, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("agent state %s is corrupt (%v); refusing to start rather than forget a vote: inspect it, or remove it only if every agent of the cluster is stopped", s.path, err)
	}
	return st, nil
}

func (s stateFile) save(st core.Persisted) error {
	b, _ := json.Marshal(st)
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating state directory %s: %w", dir, err)
	}
	if err := atomicfile.Write(s.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing agent state: %w", err)
	}
	return nil
}
