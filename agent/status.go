package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openefm/efm/internal/admin"
	"github.com/openefm/efm/internal/core"
)

// statusProbeTimeout bounds each direct database query of cluster-status.
const statusProbeTimeout = 3 * time.Second

// handler answers the efm command over the admin socket.
type handler struct {
	s           *shell
	roster      roster
	vipAddr     string
	stopEnabled bool
	minStandbys int
}

func (h *handler) Handle(ctx context.Context, req admin.Request) (any, error) {
	switch req.Command {
	case "node-status":
		return h.nodeStatus(ctx), nil
	case "cluster-status":
		return h.clusterStatus(ctx), nil
	case "allow-node", "disallow-node":
		addr, err := nodeAddr(req.Args)
		if err != nil {
			return nil, err
		}
		// The roster's errors name the command and the address already.
		if req.Command == "allow-node" {
			err = h.roster.AllowNode(ctx, addr)
		} else {
			err = h.roster.DisallowNode(ctx, addr)
		}
		if err != nil {
			return nil, err
		}
		return fmt.Sprintf("%s: address %s is now %s.", req.Command, addr,
			map[bool]string{true: "allowed to join the cluster", false: "no longer allowed to join the cluster"}[req.Command == "allow-node"]), nil
	case "reset-members":
		if err := h.roster.ResetMembers(ctx); err != nil {
			return nil, err
		}
		return "Reset members completed.", nil
	case "set-priority":
		if len(req.Args) != 2 {
			return nil, errors.New("set-priority: want <address> <priority>")
		}
		addr, err := nodeAddr(req.Args[:1])
		if err != nil {
			return nil, err
		}
		prio, err := strconv.Atoi(req.Args[1])
		if err != nil {
			return nil, fmt.Errorf("set-priority: priority %q is not a whole number (1 = first to promote, 0 = never)", req.Args[1])
		}
		// Cluster state, held by the coordinator, which validates it.
		if err := h.roster.SetPriority(ctx, addr, prio); err != nil {
			return nil, err
		}
		return "Set priority command successful on local agent.", nil
	case "promote":
		return h.core(ctx, func(seq uint64) core.Event {
			return core.AdminPromote{Seq: seq, Switchover: req.Flags["switchover"] == "true",
				SourceNode: core.NodeID(req.Flags["sourcenode"]), Quiet: req.Flags["quiet"] == "true",
				NoScripts: req.Flags["noscripts"] == "true"}
		})
	case "resume":
		return h.core(ctx, func(seq uint64) core.Event { return core.AdminResume{Seq: seq} })
	case "stop-cluster":
		if !h.stopEnabled {
			return nil, errors.New("stop-cluster is disabled on this cluster (enable.stop.cluster=false)")
		}
		// The cluster's shared state is cleared first, through the
		// coordinator, while every agent still runs: the core's stop
		// message makes the coordinator exit too, and a request forwarded
		// to it after that waits out its timeout while this agent's own
		// stop closes the admin socket under the caller (EOF, no answer).
		if err := h.roster.StopCluster(ctx); err != nil {
			return nil, err
		}
		text, err := h.core(ctx, func(seq uint64) core.Event { return core.AdminStopCluster{Seq: seq} })
		if err != nil {
			return nil, err
		}
		h.s.requestStop()
		return text, nil
	}
	return nil, fmt.Errorf("unknown command %q", req.Command)
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

func nodeAddr(args []string) (string, error) {
	if len(args) != 1 {
		return "", errors.New("want exactly one node address")
	}
	a, err := netip.ParseAddr(strings.Trim(args[0], "[]"))
	if err != nil {
		return "", fmt.Errorf("node address %q is not an IP address (the IP of the node's bind.address)", args[0])
	}
	return a.String(), nil
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
			cs.Nodes[string(m.ID)] = n
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
