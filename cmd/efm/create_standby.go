package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/openefm/efm/agent"
	"github.com/openefm/efm/internal/admin"
	"github.com/openefm/efm/internal/pg"
)

func init() {
	register(&command{
		name:    "create-standby",
		args:    "[-waldir <dir>]",
		summary: "build this node's database as a standby of the current primary with pg_basebackup",
		detail: `Asks the local agent (which must run) for the current primary and for a
standby's replication settings to copy (as a switchover does), then takes a
pg_basebackup of the primary into db.data.dir, writes primary_conninfo (the
copied one pointed at the primary), port (db.port) and standby.signal, starts
the database, waits until it streams from the primary, and asks the agent to
resume. Refuses (exit 1) when db.data.dir is not empty or no primary is known:
it never overwrites a database. -waldir puts pg_wal in another directory (an
absolute path, absent or empty), as pg_basebackup --waldir does.`,
		flags: func(fs *flag.FlagSet, inv *invocation) {
			stringFlag(fs, inv, "waldir", "directory for the new standby's pg_wal (absolute; absent or empty)")
		},
		run: runCreateStandby,
	})
}

// createStandbyTimeout bounds the whole command; a base backup of a large
// database takes long, and an operator can always interrupt it.
const createStandbyTimeout = 24 * time.Hour

func runCreateStandby(inv *invocation) int {
	cfg, _, ok := inv.loadConfig(false)
	if !ok {
		return 1
	}
	if cfg.IsWitness {
		return inv.errorf("efm create-standby: this node is a witness (is.witness=true): it has no database")
	}
	db, err := agent.LocalDB(cfg, nil)
	if err != nil {
		return inv.errorf("efm create-standby: %v", err)
	}
	// Checked before the agent is asked: the refusal does not depend on
	// the cluster.
	if empty, err := db.DataDirEmpty(context.Background()); err != nil {
		return inv.errorf("efm create-standby: %v", err)
	} else if !empty {
		return inv.errorf("efm create-standby: db.data.dir %s is not empty: a database is already there (move it away or empty it first)", cfg.DBDataDir)
	}
	resp := inv.callAgent(admin.StandbySourceRequest{}, 30*time.Second)
	if resp == nil {
		return 1
	}
	var src admin.StandbySource
	if err := resp.Decode(&src); err != nil {
		return inv.errorf("efm create-standby: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), createStandbyTimeout)
	defer cancel()
	start := time.Now()
	err = db.CreateStandby(ctx, pg.ReplicationSettings{PrimaryConninfo: src.PrimaryConninfo, RestoreCommand: src.RestoreCommand}, src.Primary, src.Port, inv.option("waldir"))
	if err != nil {
		return inv.errorf("efm create-standby: %v", err)
	}
	fmt.Fprintf(inv.stdout, "Standby created from primary %s (replication settings of %s) in %s; it streams from %s.\n",
		src.Primary, src.CopiedFrom, time.Since(start).Round(time.Millisecond), src.Primary)
	// The Idle agent keeps probing: it may see the new standby and resume
	// by itself before we ask, and then refuses a resume ("not Idle").
	// Either way what matters is that it monitors the node as a standby.
	_, resumeErr := askAgent(cfg, inv.cluster, admin.ResumeRequest{}, 60*time.Second)
	if resumeErr == nil {
		fmt.Fprintln(inv.stdout, "The local agent resumed monitoring it.")
		return 0
	}
	// Refused because it is no longer Idle: it is re-detecting its role
	// (Unknown) from its next probe on; give it a few check periods.
	deadline := time.Now().Add(max(30*time.Second, 3*cfg.LocalPeriod))
	for {
		var ns admin.NodeStatus
		resp, err := askAgent(cfg, inv.cluster, admin.NodeStatusRequest{}, 10*time.Second)
		if err == nil && resp.Decode(&ns) == nil && ns.Type == "Standby" {
			fmt.Fprintln(inv.stdout, "The local agent monitors it as a standby.")
			return 0
		}
		if err != nil || ns.Type != "Unknown" || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Fprintf(inv.stderr, "efm create-standby: the database is a standby now, but the agent did not resume (%v); run 'efm resume %s'\n", resumeErr, inv.cluster)
	return 1
}
