package admin

// NodeStatus is the answer to node-status-json, in EDB EFM's layout:
// vip_active is the string "true" or "false", as EFM prints it.
type NodeStatus struct {
	Type      string `json:"type"`
	Address   string `json:"address"`
	DB        string `json:"db"`
	VIP       string `json:"vip"`
	VIPActive string `json:"vip_active"`
}

// ClusterNode is one member in cluster-status-json.
type ClusterNode struct {
	Type       string `json:"type"`
	DB         string `json:"db"`
	VIP        string `json:"vip"`
	VIPActive  bool   `json:"vip_active"`
	LSNReceive string `json:"lsnReceive,omitempty"`
	LSN        string `json:"lsn,omitempty"`
	LSNInfo    string `json:"lsnInfo"`
}

// ClusterStatus is the answer to cluster-status-json (EFM 5.x key names).
type ClusterStatus struct {
	Nodes                 map[string]ClusterNode `json:"nodes"`
	AllowedNodes          []string               `json:"allowednodes"`
	MembershipCoordinator string                 `json:"membershipcoordinator"`
	FailoverPriority      []string               `json:"failoverpriority"`
	MinimumStandbys       int                    `json:"minimumstandbys"`
	MissingNodes          []string               `json:"missingnodes"`
	Messages              []string               `json:"messages"`
}

// StandbySource is the answer to create-standby: the primary to copy and
// stream from, and a working standby's replication settings to copy, as
// the switchover copies them to an old primary.
type StandbySource struct {
	Primary         string `json:"primary"`
	Port            int    `json:"port"`
	PrimaryConninfo string `json:"primary_conninfo"`
	RestoreCommand  string `json:"restore_command,omitempty"`
	// CopiedFrom is the node whose settings these are.
	CopiedFrom string `json:"copied_from"`
}
