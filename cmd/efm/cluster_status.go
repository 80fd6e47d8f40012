package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/openefm/efm/internal/admin"
)

func init() {
	register(&command{
		name:    "cluster-status",
		summary: "print the members, the allowed list, the coordinator, the priority list and promotion safety",
		detail: `Exit status 0 only when every agent is up, the primary and standby databases
are up and the standbys are in sync with the primary; 1 otherwise.`,
		run: func(inv *invocation) int { return runClusterStatus(inv, false) },
	})
	register(&command{
		name:    "cluster-status-json",
		summary: "the cluster-status data as JSON, in EDB EFM 5.x's key names",
		run:     func(inv *invocation) int { return runClusterStatus(inv, true) },
	})
}

func runClusterStatus(inv *invocation, asJSON bool) int {
	resp := inv.callAgent(admin.ClusterStatusRequest{}, 30*time.Second)
	if resp == nil {
		return 1
	}
	var cs admin.ClusterStatus
	if err := resp.Decode(&cs); err != nil {
		return inv.errorf("efm %s: %v", inv.cmd.name, err)
	}
	if asJSON {
		out, _ := json.MarshalIndent(cs, "", "  ")
		fmt.Fprintln(inv.stdout, string(out))
	} else {
		printClusterStatus(inv.stdout, inv.cluster, &cs)
	}
	if healthy(&cs) {
		return 0
	}
	return 1
}

// healthy is EFM's exit-status rule for cluster-status.
func healthy(cs *admin.ClusterStatus) bool {
	primaries, standbys := 0, 0
	var primaryLSN string
	for _, n := range cs.Nodes {
		switch n.Type {
		case "Primary":
			primaries++
			primaryLSN = n.LSN
			if n.DB != "UP" {
				return false
			}
		case "Standby":
			standbys++
			if n.DB != "UP" {
				return false
			}
		case "Witness":
		default: // Idle, DOWN, UNKNOWN
			return false
		}
	}
	if primaries != 1 || standbys == 0 {
		return false
	}
	for _, n := range cs.Nodes {
		if n.Type == "Standby" && (n.LSN == "" || n.LSN != primaryLSN) {
			return false
		}
	}
	return true
}

// order sorts members as EFM lists them: primary, standbys, witnesses,
// idle, down; by address within a kind.
func order(cs *admin.ClusterStatus) []string {
	rank := map[string]int{"Primary": 0, "Promoting": 1, "Standby": 2, "Witness": 3, "Idle": 4, "DOWN": 5}
	addrs := make([]string, 0, len(cs.Nodes))
	for a := range cs.Nodes {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool {
		ri, ok := rank[cs.Nodes[addrs[i]].Type]
		if !ok {
			ri = 6
		}
		rj, ok := rank[cs.Nodes[addrs[j]].Type]
		if !ok {
			rj = 6
		}
		if ri != rj {
			return ri < rj
		}
		return addrs[i] < addrs[j]
	})
	return addrs
}

func printClusterStatus(w io.Writer, cluster string, cs *admin.ClusterStatus) {
	addrs := order(cs)
	aw := 20
	for _, a := range addrs {
		if len(a)+1 > aw {
			aw = len(a) + 1
		}
	}
	fmt.Fprintf(w, "Cluster Status: %s\n\n", cluster)
	fmt.Fprintf(w, "\t%-11s %-*s %-8s %s\n", "Agent Type", aw, "Address", "DB", "VIP")
	fmt.Fprintf(w, "\t%s\n", strings.Repeat("-", 44+aw))
	for _, a := range addrs {
		n := cs.Nodes[a]
		vip := n.VIP
		if n.VIPActive {
			vip += "*"
		}
		fmt.Fprintf(w, "\t%-11s %-*s %-8s %s\n", n.Type, aw, a, n.DB, vip)
	}
	fmt.Fprintf(w, "\nAllowed node host list:\n\t%s\n", strings.Join(cs.AllowedNodes, " "))
	fmt.Fprintf(w, "\nMembership coordinator: %s\n", cs.MembershipCoordinator)
	fmt.Fprintf(w, "\nStandby priority host list:\n")
	if len(cs.FailoverPriority) == 0 {
		fmt.Fprintf(w, "\t(List is empty.)\n")
	} else {
		fmt.Fprintf(w, "\t%s\n", strings.Join(cs.FailoverPriority, " "))
	}
	fmt.Fprintf(w, "\nPromote Status:\n\n")
	fmt.Fprintf(w, "\t%-11s %-*s %-18s %-18s %s\n", "DB Type", aw, "Address", "WAL Received LSN", "WAL Replayed LSN", "Info")
	fmt.Fprintf(w, "\t%s\n", strings.Repeat("-", 55+aw))
	var idle []string
	primaryLSN, primaries, standbys, inSync := "", 0, 0, true
	for _, a := range addrs {
		n := cs.Nodes[a]
		switch n.Type {
		case "Primary":
			primaries++
			primaryLSN = n.LSN
			fmt.Fprintf(w, "\t%-11s %-*s %-18s %-18s %s\n", "Primary", aw, a, "", n.LSN, n.LSNInfo)
		case "Standby", "Promoting":
			standbys++
			fmt.Fprintf(w, "\t%-11s %-*s %-18s %-18s %s\n", "Standby", aw, a, orUnknown(n.LSNReceive), orUnknown(n.LSN), n.LSNInfo)
		case "Idle":
			idle = append(idle, a)
		}
	}
	for _, a := range addrs {
		if n := cs.Nodes[a]; n.Type == "Standby" && n.LSN != primaryLSN {
			inSync = false
		}
	}
	fmt.Fprintln(w)
	switch {
	case primaries == 0:
		fmt.Fprintf(w, "\tNo primary database was found.\n")
	case standbys == 0:
		fmt.Fprintf(w, "\tNo standby databases were found.\n")
	case inSync:
		fmt.Fprintf(w, "\tStandby database(s) in sync with primary. It is safe to promote.\n")
	default:
		fmt.Fprintf(w, "\tOne or more standby databases are not in sync with the primary.\n")
	}
	for _, m := range cs.Messages {
		fmt.Fprintf(w, "\t%s\n", m)
	}
	if len(idle) > 0 {
		fmt.Fprintf(w, "\nIdle Node Status (idle nodes ignored in WAL LSN comparisons):\n\n")
		fmt.Fprintf(w, "\t%-*s %-18s %-18s %s\n", aw, "Address", "WAL Received LSN", "WAL Replayed LSN", "Info")
		fmt.Fprintf(w, "\t%s\n", strings.Repeat("-", 43+aw))
		for _, a := range idle {
			n := cs.Nodes[a]
			fmt.Fprintf(w, "\t%-*s %-18s %-18s %s\n", aw, a, orUnknown(n.LSNReceive), orUnknown(n.LSN), n.LSNInfo)
		}
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "UNKNOWN"
	}
	return s
}
