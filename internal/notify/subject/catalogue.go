package subject

// The catalogue. Every variable below is one notification, registered as
// the package is initialised. The texts are EDB EFM 5.x's (checked by
// TestCatalogueIsEFMs); the ones EFM does not have are made with ours* and
// say why next to them.

// INFO subjects.
var (
	ExecutedFencingScript             = info("Executed fencing script")
	ExecutedPostPromotionScript       = info("Executed post-promotion script")
	ExecutedRemotePrePromotionScript  = info("Executed remote pre-promotion script")
	ExecutedRemotePostPromotionScript = info("Executed remote post-promotion script")
	ExecutedPostDatabaseFailureScript = info("Executed post-database failure script")
	ExecutedPrimaryIsolationScript    = info("Executed primary isolation script")
	ExecutedAgentResumedScript        = info("Executed agent resumed script")
	WitnessAgentRunning               = info("Witness agent running on {node} for cluster {cluster}")
	PrimaryAgentRunning               = info("Primary agent running on {node} for cluster {cluster}")
	StandbyAgentRunning               = info("Standby agent running on {node} for cluster {cluster}")
	IdleAgentRunning                  = info("Idle agent running on node {node} for cluster {cluster}")
	AssigningVIP                      = info("Assigning VIP to node {node}")
	ReleasingVIP                      = info("Releasing VIP from node {node}")
	StartingAutoResumeCheck           = info("Starting auto resume check for cluster {cluster}")
	WALBackedUpDuringPromotion        = info("WAL logs backed up during promotion")
	ResetMembersCompleted             = info("Reset members completed for cluster {cluster}")
)

// WARNING subjects.
var (
	FailedPrimaryRebuilt             = warning("Failed primary is being rebuilt with pg_basebackup on {node} for cluster {cluster}")
	WitnessAgentExited               = warning("Witness agent exited on {node} for cluster {cluster}")
	PrimaryAgentExited               = warning("Primary agent exited on {node} for cluster {cluster}")
	PrimaryAgentLeft                 = warning("Cluster {cluster} notified that primary agent has left")
	StandbyAgentExited               = warning("Standby agent exited on {node} for cluster {cluster}")
	AgentExitedDuringPromotion       = warning("Agent exited during promotion on {node} for cluster {cluster}")
	IdleAgentExited                  = warning("Agent exited on {node} for cluster {cluster}")
	AgentExitedDuringStartup         = warning("Agent exited for cluster {cluster}")
	VIPOnNonPrimary                  = warning("Virtual IP address assigned to non-primary node")
	VIPNotOnPrimary                  = warning("Virtual IP address not assigned to primary node")
	StandbyFailed                    = warning("Standby failed in cluster {cluster}")
	StandbyAgentFailed               = warning("Standby agent failed for cluster {cluster}")
	StandbyDatabaseFailed            = warning("Standby database failed for cluster {cluster}")
	StandbyCannotReachDatabase       = warning("Standby agent cannot reach database for cluster {cluster}")
	ClusterBelowThreeNodes           = warning("Cluster {cluster} has dropped below three nodes")
	SubsetDisconnectedFromPrimary    = warning("Subset of cluster {cluster} disconnected from primary")
	PromotionStarted                 = warning("Promotion has started on cluster {cluster}")
	WitnessFailure                   = warning("Witness failure for cluster {cluster}")
	IdleAgentFailure                 = warning("Idle agent failure for cluster {cluster}")
	NodesIsolated                    = warning("One or more nodes isolated from network for cluster {cluster}")
	NodeNoLongerIsolated             = warning("Node no longer isolated from network for cluster {cluster}")
	PrimaryDBStillRunning            = warning("Failover Manager tried to promote, but primary DB is still running")
	PrimaryAgentMissing              = warning("Primary agent missing for cluster {cluster}")
	PrimaryRejoined                  = warning("Standby agent started to promote, but primary has rejoined")
	CouldNotVerifyPrimaryDB          = warning("Standby agent tried to promote, but could not verify primary DB")
	VIPStillAssigned                 = warning("Standby agent tried to promote, but VIP appears to still be assigned")
	StandbyOrphaned                  = warning("Standby agent tried to promote, but appears to be orphaned")
	ManualFailoverRequired           = warning("Potential manual failover required on cluster {cluster}")
	FailoverCompleted                = warning("Failover has completed on cluster {cluster}")
	LockFileRemoved                  = warning("Lock file for cluster {cluster} has been removed")
	RecoveryFileOnPrimary            = warning("A recovery file for cluster {cluster} has been found on primary node")
	RecoveryTargetTimelineNotLatest  = warning("recovery_target_timeline is not set to latest in recovery settings")
	PromotionInProgress              = warning("Promotion has not occurred for cluster {cluster}")
	StandbyNotReconfigured           = warning("Standby will not be reconfigured after failover")
	CouldNotResumeReplay             = warning("Could not resume replay for standby {node}")
	DatabaseTimeoutMismatch          = warning("Possible problem with database timeout values")
	NoStandbysAvailable              = warning("No standbys available for promotion in cluster {cluster}")
	NoPromotableStandby              = warning("No promotable standby for cluster {cluster}")
	SyncReplicationReconfigured      = warning("Synchronous replication has been reconfigured for cluster {cluster}")
	SyncReplicationDisabled          = warning("Synchronous replication has been disabled for cluster {cluster}")
	CouldNotReloadDBConfig           = warning("Could not reload database configuration")
	CustomMonitorTimeout             = warning("Custom monitor timeout for cluster {cluster}")
	CustomMonitorSafeModeFailure     = warning("Custom monitor 'safe mode' failure for cluster {cluster}")
	PrimaryShutdownAsFailure         = warning("primary.shutdown.as.failure set to true for primary node")
	PrimaryCannotPingLocalDB         = warning("Primary cannot ping local database for cluster {cluster}")
	StandbyCannotPingLocalDB         = warning("Standby cannot ping local database for cluster {cluster}")
	StandbyCannotResumeMonitoring    = warning("Standby cannot resume monitoring local database for cluster {cluster}")
	PrimaryLeftAndDetached           = warning("Primary agent left the cluster and node detached from load balancer")
	StandbyNotStoppedBeforePromotion = warning("Standby database not stopped before primary is promoted")
	CouldNotLoadSharedState          = warning("Agent could not load shared state for cluster {cluster}")
	StandbyRestartedCannotConnect    = warning("Standby database restarted but EFM cannot connect")
	CouldNotRetrieveDBSettings       = warning("Could not retrieve db settings for rebuild")
	ReplicationSlotAdvanceProblem    = warning("Problem advancing replication slots for cluster {cluster}")
)

// SEVERE subjects.
var (
	BaseBackupFailed                = severe("pg_basebackup call failed")
	DuplicateReplicationSlot        = severe("A duplicate replication slot name is in use")
	UnableToConnectToDB             = severe("Unable to connect to DB on {node}")
	PrimaryCannotResumeMonitoring   = severe("Primary cannot resume monitoring local database for cluster {cluster}")
	FencingScriptError              = severe("Fencing script error")
	PostPromotionScriptFailed       = severe("Post-promotion script failed")
	RemotePostPromotionScriptFailed = severe("Remote post-promotion script failed")
	RemotePrePromotionScriptFailed  = severe("Remote pre-promotion script failed")
	PostDatabaseFailureScriptError  = severe("Post-database failure script error")
	AgentResumedScriptError         = severe("Agent resumed script error")
	PrimaryIsolationScriptFailed    = severe("Primary isolation script failed")
	CouldNotPromoteStandby          = severe("Could not promote standby")
	ErrorCreatingRecoveryFile       = severe("Error creating recovery.conf file on {node} for cluster {cluster}")
	UnexpectedError                 = severe("An unexpected error has occurred for cluster {cluster}")
	// PrimaryFencedOff: EFM sends it isolated by the majority and when a
	// standby was already promoted; the body tells which.
	PrimaryFencedOff              = severe("Primary database being fenced off for cluster {cluster}")
	IsolatedPrimaryShutdown       = severe("Isolated primary database shutdown")
	CouldNotAssignVIP             = severe("Could not assign VIP to node {node}")
	PrimaryDatabaseFailure        = severe("Primary database failure for cluster {cluster}")
	StandbyDatabaseFailure        = severe("Standby database failure for cluster {cluster}")
	AgentTimingOut                = severe("Agent is timing out for cluster {cluster}")
	ResumeTimedOut                = severe("Resume timed out for cluster {cluster}")
	InternalStateMismatch         = severe("Internal state mismatch for cluster {cluster}")
	FailoverNotOccurred           = severe("Failover has not occurred")
	DatabaseInWrongState          = severe("Database in wrong state on {node}")
	DatabaseConnectionFailure     = severe("Database connection failure for cluster {cluster}")
	StandbyCustomMonitorFailure   = severe("Standby custom monitor failure for cluster {cluster}")
	PrimaryCustomMonitorFailure   = severe("Primary custom monitor failure for cluster {cluster}")
	LoopbackPingServerIP          = severe("Loopback address set for ping.server.ip")
	LoadBalancerAttachScriptError = severe("Load balancer attach script error")
	LoadBalancerDetachScriptError = severe("Load balancer detach script error")
	PgpoolAttachNodeError         = severe("Pgpool attach node error")
	PgpoolDetachNodeError         = severe("Pgpool detach node error")
	NotEnoughSyncStandbys         = severe("Not enough synchronous standbys available in cluster {cluster}")
	// EFM documents no subject for script.db.password failing.
	DBPasswordScriptFailed = oursSevere("Could not get the database password for cluster {cluster}")
)

// OpenEFM's own subjects, for events EFM does not report. They follow EFM's
// wording ("Standby agent tried to promote, but ...") so mail filters
// written for EFM's catch them.
var (
	// EFM reports no switchover of its own; OpenEFM tells it from a
	// failover.
	SwitchoverCompleted = oursWarning("Switchover has completed on cluster {cluster}")
	// A VIP or ping.server.ip probe that could not tell (it errored or
	// timed out): EFM reads every failure as "no answer".
	VIPInDoubt            = oursWarning("Standby agent cannot verify that the VIP is released")
	VIPInDoubtNoPromotion = oursWarning("Standby agent tried to promote, but could not verify that the VIP is released")
	PingInDoubt           = oursWarning("Standby agent tried to promote, but could not verify that it is not orphaned")
	// A message no agent of this cluster and protocol version would send.
	UndecodableMessage = oursWarning("Agent message from another protocol version or cluster")
	// The primary's agent did not run past its lease (a frozen VM) and kept
	// it: EFM has no lease.
	PrimaryStalledPastLease = oursWarning("Primary agent was not running past its lease on {node}")
	// auto.rewind / auto.basebackup: EFM only says a rebuild starts (and
	// only for pg_basebackup); OpenEFM says how each one ended.
	FailedPrimaryRejoined    = oursWarning("Failed primary rejoined as a standby on {node} for cluster {cluster}")
	FailedPrimaryNotRejoined = oursSevere("Failed primary could not be rebuilt as a standby on {node} for cluster {cluster}")
	// A standby whose WAL runs past the new primary's fork point cannot
	// follow it; EFM leaves it failing to stream.
	StandbyDiverged = oursSevere("Standby database has WAL the primary lacks on {node} for cluster {cluster}")
)
