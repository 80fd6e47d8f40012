package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/openefm/efm/internal/admin"
	"github.com/openefm/efm/internal/core"
)

// statusProbeTimeout bounds each direct database query of cluster-status.
const statusProbeTimeout = 3 * time.Second

// handler answers the efm command over the admin socket. Requests arrive
// typed and validated (admin.DecodeRequest); the rules that need the
// cluster's state are the membership coordinator's (roster) or the core's.
type handler struct {
	s           *shell
	roster      roster
	vipAddr     string
	minStandbys int
	dbPort      int // db.port, the same on every node
}

func (h *handler) Handle(ctx context.Context, req admin.Request) (any, error) {
	switch r := req.(type) {
	case admin.NodeStatusRequest:
		return h.nodeStatus(ctx), nil
	case admin.ClusterStatusRequest:
		return h.clusterStatus(ctx), nil
	case admin.AllowNodeRequest:
		// The roster's errors name the command and the address already.
		if err := h.roster.AllowNode(ctx, r.Node); err != nil {
			return nil, err
		}
		return fmt.Sprintf("allow-node: address %s is now allowed to join the cluster.", r.Node), nil
	case admin.DisallowNodeRequest:
		if err := h.roster.DisallowNode(ctx, r.Node); err != nil {
			return nil, err
		}
		return fmt.Sprintf("disallow-node: address %s is now no longer allowed to join the cluster.", r.Node), nil
	case admin.ResetMembersRequest:
		if err := h.roster.ResetMembers(ctx); err != nil {
			return nil, err
		}
		return "Reset members completed.", nil
	case admin.SetPriorityRequest:
		// Cluster state, held by the coordinator, which checks the node
		// is a database member.
		if err := h.roster.SetPriority(ctx, r.Node, r.Priority); err != nil {
			return nil, err
		}
		return "Set priority command successful on local agent.", nil
	case admin.PromoteRequest:
		var source core.NodeID
		if r.SourceNode.IsValid() {
			source = core.NodeID(r.SourceNode.String())
		}
		return h.core(ctx, func(seq uint64) core.Event {
			return core.AdminPromote{Seq: seq, Switchover: r.Switchover, SourceNode: source, Quiet: r.Quiet, NoScripts: r.NoScripts}
		})
	case admin.ResumeRequest:
		return h.core(ctx, func(seq uint64) core.Event { return core.AdminResume{Seq: seq} })
	case admin.StopClusterRequest:
		return h.stopCluster(ctx)
	case admin.StandbySourceRequest:
		return h.standbySource(ctx)
	}
	return nil, fmt.Errorf("unknown command %q", req.Command())
}

// stopCluster is the one stop path: the core's rule (enable.stop.cluster),
// then the cluster's shared state, then the core's stop, whose Exit ends
// this agent.
func (h *handler) stopCluster(ctx context.Context) (any, error) {
	// Asked before the shared state is touched: a refused stop-cluster
	// changes nothing. The core refuses by the same rule.
	if why := h.s.node.Params().StopClusterRefused(); why != "" {
		return nil, errors.New(why)
	}
	// The cluster's shared state is cleared first, through the
	// coordinator, while every agent still runs: the core's stop
	// message makes the coordinator exit too, and a request forwarded
	// to it after that waits out its timeout while this agent's own
	// stop closes the admin socket under the caller (EOF, no answer).
	if err := h.roster.StopCluster(ctx); err != nil {
		return nil, err
	}
	return h.core(ctx, func(seq uint64) core.Event { return core.AdminStopCluster{Seq: seq} })
}

// core submits an admin event to the state machine and waits for its reply.
func (h *handler) core(ctx context.Context, ev func(seq uint64) core.Event) (any, error) {
	c := adminCall{ev: ev, reply: make(chan core.AdminReply, 1)}
	select {
	case h.s.calls <- c:
	case <-ctx.Done():
		return nil, fmt.Errorf("the agent is busy: %w", ctx.Err())
	}
	select {
	case r := <-c.reply:
		if r.Err != "" {
			return nil, errors.New(r.Err)
		}
		return r.Text, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("no answer from the agent's core: %w", ctx.Err())
	}
}

func (h *handler) vipActive() bool {
	if h.s.vip == nil {
		return false
	}
	held, err := h.s.vip.Held()
	return err == nil && held
}

func (h *handler) nodeStatus(ctx context.Context) admin.NodeStatus {
	s := h.s
	s.mu.Lock()
	role, lastDB := s.role, s.lastDB
	s.mu.Unlock()
	ns := admin.NodeStatus{Type: displayRole(role), Address: string(s.self), VIP: h.vipAddr, VIPActive: strconv.FormatBool(h.vipActive())}
	switch {
	case s.db == nil:
		ns.DB = "N/A"
	case lastDB != nil:
		ns.DB = "UP"
	default:
		ns.DB = "UNKNOWN"
	}
	return ns
}

func displayRole(r core.Role) string {
	if r == core.RoleUnknown || r == "" {
		return "Idle"
	}
	return string(r)
}

func (h *handler) clusterStatus(ctx context.Context) admin.ClusterStatus {
	s := h.s
	s.mu.Lock()
	view := s.view
	s.mu.Unlock()
	cs := admin.ClusterStatus{
		Nodes:                 map[string]admin.ClusterNode{},
		AllowedNodes:          h.roster.Allowed(),
		MembershipCoordinator: h.roster.Coordinator(),
		MinimumStandbys:       h.minStandbys,
		MissingNodes:          []string{},
		Messages:              []string{},
	}
	cs.FailoverPriority = []string{}
	for _, p := range view.FailoverList() {
		cs.FailoverPriority = append(cs.FailoverPriority, string(p))
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range view.Members {
		if m.State == core.MemberLeft {
			continue
		}
		n := admin.ClusterNode{Type: displayRole(m.Status.Role), VIP: h.vipAddr}
		if m.State == core.MemberDown {
			n.Type = "DOWN"
			cs.MissingNodes = append(cs.MissingNodes, string(m.ID))
		}
		if m.Kind == core.KindWitness {
			n.Type, n.DB = "Witness", "N/A"
			if m.State == core.MemberDown {
				n.Type = "DOWN"
			}
			// Under mu: the probes of the database members started above
			// write the same map (a witness listed after them crashed the
			// agent with "concurrent map writes" in a fresh-clone CI run).
			mu.Lock()
			cs.Nodes[string(m.ID)] = n
			mu.Unlock()
			continue
		}
		n.VIPActive = h.vipAddr != "" && m.Status.Role == core.RolePrimary
		if m.ID == s.self {
			n.VIPActive = h.vipActive()
		}
		// Promote Status is a direct query from this node to every
		// database, as EFM does: it tells whether promotion is safe now.
		wg.Add(1)
		go func(id core.NodeID, n admin.ClusterNode) {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, statusProbeTimeout)
			defer cancel()
			st, err := s.remote.Probe(pctx, string(id))
			switch {
			case err != nil:
				n.DB = "UNKNOWN"
				n.LSNInfo = err.Error()
			case st.InRecovery:
				n.DB = "UP"
				n.LSNReceive, n.LSN = st.ReceivedLSN.String(), st.ReplayLSN.String()
				n.LSNInfo = "DB is in recovery."
			default:
				n.DB = "UP"
				n.LSN = st.CurrentLSN.String()
				n.LSNInfo = "DB is not in recovery."
			}
			if n.Type == "Primary" || n.Type == "Standby" {
				n.LSNInfo = ""
			}
			mu.Lock()
			cs.Nodes[string(id)] = n
			mu.Unlock()
		}(m.ID, n)
	}
	wg.Wait()
	sort.Strings(cs.MissingNodes)
	return cs
}
