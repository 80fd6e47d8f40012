package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/openefm/efm/internal/atomicfile"
	"github.com/openefm/efm/internal/core"
)

// stateFile keeps the core's Persisted state (epoch, vote, fence) across
// agent restarts. A vote must survive a crash, or a restarted voter could
// vote twice in one epoch and let two candidates win: every write is
// fsynced, file and directory, before the core's next action runs.
//
// The file names the node and the cluster it belongs to. Two agents given
// the same state.dir (a test bench, a container image) would otherwise
// overwrite each other's epochs and votes without a word; with the owner
// recorded and the file locked while an agent runs, the second one is
// refused instead.
type stateFile struct {
	path    string
	cluster string // owner: the cluster name
	node    string // owner: the node, the IP of bind.address
}

// stateOnDisk is the file's layout: the owner beside the core's fields. A
// file written before the owner was recorded has neither.
type stateOnDisk struct {
	Cluster string `json:"cluster,omitempty"`
	Node    string `json:"node,omitempty"`
	core.Persisted
}

// StateOwnerError refuses a state file that belongs to another node or
// cluster.
type StateOwnerError struct {
	Path                  string
	Cluster, Node         string // the owner recorded in the file
	WantCluster, WantNode string // this agent
}

func (e *StateOwnerError) Error() string {
	return fmt.Sprintf("state file %s belongs to node %s of cluster %s, not to this agent (node %s of cluster %s); refusing to load or overwrite its votes: give each agent its own state.dir",
		e.Path, e.Node, e.Cluster, e.WantNode, e.WantCluster)
}

// StateInUseError refuses a state file another running agent holds.
type StateInUseError struct {
	Path          string
	PID           int    // the holder's pid as written in the lock file, or 0
	Cluster, Node string // the owner recorded in the state file, if readable
}

func (e *StateInUseError) Error() string {
	who := "another agent"
	if e.PID > 0 {
		who = fmt.Sprintf("another agent (pid %d)", e.PID)
	}
	owner := ""
	if e.Node != "" {
		owner = fmt.Sprintf(", node %s of cluster %s", e.Node, e.Cluster)
	}
	return fmt.Sprintf("state file %s is in use by %s%s: give each agent its own state.dir", e.Path, who, owner)
}

// openState locks the state file at path for the agent of node in
// cluster, loads it and makes sure it records that owner. The lock, held
// until release, is a file beside the state (the state itself is replaced
// on every write, so a lock on it would not last). A file written before
// owners were recorded is adopted once, with a log line.
func openState(path, cluster, node string, log *slog.Logger) (stateFile, core.Persisted, func(), error) {
	s := stateFile{path: path, cluster: cluster, node: node}
	var st core.Persisted
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return s, st, nil, fmt.Errorf("creating state.dir %s: %w", dir, err)
	}
	lock, err := lockState(path)
	if err != nil {
		return s, st, nil, err
	}
	release := func() { lock.Close() } // closing drops the flock; the file stays, see lockState
	disk, found, err := s.read()
	if err == nil {
		err = s.owned(disk)
	}
	if err != nil {
		release()
		return s, st, nil, err
	}
	if found && disk.Node == "" && disk.Cluster == "" {
		log.Warn("adopting a state file written by an earlier version, which did not record its owner", "file", path, "node", node, "cluster", cluster)
	}
	if !found || disk.Node == "" {
		// Record the owner now, not at the first vote: a second agent
		// pointed here later must find whose file it is.
		if err := s.save(disk.Persisted); err != nil {
			release()
			return s, st, nil, err
		}
	}
	return s, disk.Persisted, release, nil
}

// lockState takes an exclusive flock on <path>.lock and writes our pid in
// it. The lock file is never removed: removing it while another agent
// waits to open it would let two agents hold locks on two different files.
func lockState(path string) (*os.File, error) {
	lockPath := path + ".lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening state lock %s: %w", lockPath, err)
	}
	pid, err := flockPID(f)
	if err != nil {
		f.Close()
		if errors.Is(err, errLockHeld) {
			e := &StateInUseError{Path: path, PID: pid}
			if disk, found, rerr := (stateFile{path: path}).read(); rerr == nil && found {
				e.Cluster, e.Node = disk.Cluster, disk.Node
			}
			return nil, e
		}
		return nil, err
	}
	return f, nil
}

// read reads the file as it is on disk; found is false when it does not
// exist.
func (s stateFile) read() (disk stateOnDisk, found bool, err error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return disk, false, nil
	}
	if err != nil {
		return disk, false, fmt.Errorf("reading agent state %s: %w", s.path, err)
	}
	if err := json.Unmarshal(b, &disk); err != nil {
		return disk, true, fmt.Errorf("agent state %s is corrupt (%v); refusing to start rather than forget a vote: inspect it, or remove it only if every agent of the cluster is stopped", s.path, err)
	}
	return disk, true, nil
}

// owned refuses a file recorded as another node's or cluster's. An
// unrecorded owner (an earlier version's file) passes.
func (s stateFile) owned(disk stateOnDisk) error {
	if disk.Node == "" && disk.Cluster == "" {
		return nil
	}
	if disk.Node != s.node || disk.Cluster != s.cluster {
		return &StateOwnerError{Path: s.path, Cluster: disk.Cluster, Node: disk.Node, WantCluster: s.cluster, WantNode: s.node}
	}
	return nil
}

func (s stateFile) load() (core.Persisted, error) {
	disk, _, err := s.read()
	if err != nil {
		return core.Persisted{}, err
	}
	if err := s.owned(disk); err != nil {
		return core.Persisted{}, err
	}
	return disk.Persisted, nil
}

func (s stateFile) save(st core.Persisted) error {
	b, _ := json.Marshal(stateOnDisk{Cluster: s.cluster, Node: s.node, Persisted: st})
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating state directory %s: %w", dir, err)
	}
	if err := atomicfile.Write(s.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing agent state: %w", err)
	}
	return nil
}
