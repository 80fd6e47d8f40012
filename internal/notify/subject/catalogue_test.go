package subject

import (
	"strings"
	"testing"
)

// efmSubjects is EDB Failover Manager's list of notifications, as the EFM
// 5.x documentation ("Notifications": the lists of INFO, WARNING and
// SEVERE notifications) gives them. <node> and <cluster> are written
// {node} and {cluster}, as the catalogue does.
var efmSubjects = map[Level][]string{
	Info: {
		"Executed fencing script",
		"Executed post-promotion script",
		"Executed remote pre-promotion script",
		"Executed remote post-promotion script",
		"Executed post-database failure script",
		"Executed primary isolation script",
		"Executed agent resumed script",
		"Witness agent running on {node} for cluster {cluster}",
		"Primary agent running on {node} for cluster {cluster}",
		"Standby agent running on {node} for cluster {cluster}",
		"Idle agent running on node {node} for cluster {cluster}",
		"Assigning VIP to node {node}",
		"Releasing VIP from node {node}",
		"Starting auto resume check for cluster {cluster}",
		"WAL logs backed up during promotion",
		"Reset members completed for cluster {cluster}",
	},
	Warning: {
		"Failed primary is being rebuilt with pg_basebackup on {node} for cluster {cluster}",
		"Witness agent exited on {node} for cluster {cluster}",
		"Primary agent exited on {node} for cluster {cluster}",
		"Cluster {cluster} notified that primary agent has left",
		"Standby agent exited on {node} for cluster {cluster}",
		"Agent exited during promotion on {node} for cluster {cluster}",
		"Agent exited on {node} for cluster {cluster}",
		"Agent exited for cluster {cluster}",
		"Virtual IP address assigned to non-primary node",
		"Virtual IP address not assigned to primary node",
		"Standby failed in cluster {cluster}",
		"Standby agent failed for cluster {cluster}",
		"Standby database failed for cluster {cluster}",
		"Standby agent cannot reach database for cluster {cluster}",
		"Cluster {cluster} has dropped below three nodes",
		"Subset of cluster {cluster} disconnected from primary",
		"Promotion has started on cluster {cluster}",
		"Witness failure for cluster {cluster}",
		"Idle agent failure for cluster {cluster}",
		"One or more nodes isolated from network for cluster {cluster}",
		"Node no longer isolated from network for cluster {cluster}",
		"Failover Manager tried to promote, but primary DB is still running",
		"Primary agent missing for cluster {cluster}",
		"Standby agent started to promote, but primary has rejoined",
		"Standby agent tried to promote, but could not verify primary DB",
		"Standby agent tried to promote, but VIP appears to still be assigned",
		"Standby agent tried to promote, but appears to be orphaned",
		"Potential manual failover required on cluster {cluster}",
		"Failover has completed on cluster {cluster}",
		"Lock file for cluster {cluster} has been removed",
		"A recovery file for cluster {cluster} has been found on primary node",
		"recovery_target_timeline is not set to latest in recovery settings",
		"Promotion has not occurred for cluster {cluster}",
		"Standby will not be reconfigured after failover",
		"Could not resume replay for standby {node}",
		"Possible problem with database timeout values",
		"No standbys available for promotion in cluster {cluster}",
		"No promotable standby for cluster {cluster}",
		"Synchronous replication has been reconfigured for cluster {cluster}",
		"Synchronous replication has been disabled for cluster {cluster}",
		"Could not reload database configuration",
		"Custom monitor timeout for cluster {cluster}",
		"Custom monitor 'safe mode' failure for cluster {cluster}",
		"primary.shutdown.as.failure set to true for primary node",
		"Primary cannot ping local database for cluster {cluster}",
		"Standby cannot ping local database for cluster {cluster}",
		"Standby cannot resume monitoring local database for cluster {cluster}",
		"Primary agent left the cluster and node detached from load balancer",
		"Standby database not stopped before primary is promoted",
		"Agent could not load shared state for cluster {cluster}",
		"Standby database restarted but EFM cannot connect",
		"Could not retrieve db settings for rebuild",
		"Problem advancing replication slots for cluster {cluster}",
	},
	Severe: {
		"pg_basebackup call failed",
		"A duplicate replication slot name is in use",
		"Unable to connect to DB on {node}",
		"Primary cannot resume monitoring local database for cluster {cluster}",
		"Fencing script error",
		"Post-promotion script failed",
		"Remote post-promotion script failed",
		"Remote pre-promotion script failed",
		"Post-database failure script error",
		"Agent resumed script error",
		"Primary isolation script failed",
		"Could not promote standby",
		"Error creating recovery.conf file on {node} for cluster {cluster}",
		"An unexpected error has occurred for cluster {cluster}",
		"Primary database being fenced off for cluster {cluster}",
		"Isolated primary database shutdown",
		"Could not assign VIP to node {node}",
		"Primary database failure for cluster {cluster}",
		"Standby database failure for cluster {cluster}",
		"Agent is timing out for cluster {cluster}",
		"Resume timed out for cluster {cluster}",
		"Internal state mismatch for cluster {cluster}",
		"Failover has not occurred",
		"Database in wrong state on {node}",
		"Database connection failure for cluster {cluster}",
		"Standby custom monitor failure for cluster {cluster}",
		"Primary custom monitor failure for cluster {cluster}",
		"Loopback address set for ping.server.ip",
		"Load balancer attach script error",
		"Load balancer detach script error",
		"Pgpool attach node error",
		"Pgpool detach node error",
		"Not enough synchronous standbys available in cluster {cluster}",
	},
}

// TestCatalogueIsEFMs: every subject of the catalogue is EFM's, word for
// word and at EFM's level, unless it is marked as ours; every EFM subject
// is in the catalogue; ours do not reuse an EFM text.
func TestCatalogueIsEFMs(t *testing.T) {
	efm := map[string]Level{}
	for l, texts := range efmSubjects {
		for _, s := range texts {
			efm[s] = l
		}
	}
	inCatalogue := map[string]bool{}
	for _, s := range All() {
		inCatalogue[s.Text] = true
		l, isEFMs := efm[s.Text]
		switch {
		case s.Ours && isEFMs:
			t.Errorf("%v is marked as ours, but EFM has it (at %s)", s, l)
		case s.Ours:
		case !isEFMs:
			t.Errorf("%v is not in EFM's list: fix its wording, or mark it as ours", s)
		case l != s.Level:
			t.Errorf("%v: EFM sends it at %s", s, l)
		}
	}
	for text, l := range efm {
		if !inCatalogue[text] {
			t.Errorf("EFM's [%s] %q is missing from the catalogue", l, text)
		}
	}
}

func TestCatalogueIsWellFormed(t *testing.T) {
	if n := len(All()); n < 100 {
		t.Errorf("catalogue has %d subjects; EFM lists over 100", n)
	}
	seen := map[string]bool{}
	count := map[Level]int{}
	for _, s := range All() {
		if s.Text == "" || s.Level < Info || s.Level > Severe {
			t.Errorf("bad subject %+v", s)
		}
		if seen[s.Text] {
			t.Errorf("duplicate subject text %q", s.Text)
		}
		seen[s.Text] = true
		count[s.Level]++
		if r := s.Render("n", "c"); strings.ContainsAny(r, "{}") {
			t.Errorf("subject %q renders with an unknown placeholder: %q", s.Text, r)
		}
	}
	for _, l := range []Level{Info, Warning, Severe} {
		if count[l] == 0 {
			t.Errorf("no %s subjects", l)
		}
	}
	if !seen[FailoverCompleted.Text] || FailoverCompleted.Level != Warning || PrimaryDatabaseFailure.Level != Severe {
		t.Error("catalogue misses or mislevels well-known subjects")
	}
	t.Logf("catalogue: %d INFO, %d WARNING, %d SEVERE", count[Info], count[Warning], count[Severe])
}
