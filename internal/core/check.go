package core

// checkJob answers one MsgCheckReq: check the target's database directly
// and, for a failover check, pause replay and report this standby's LSNs.
type checkJob struct {
	from      NodeID
	round     uint64
	target    NodeID
	reached   bool
	dbDone    bool
	pauseDone bool
	// primaryCheck: a failover check of the primary; a database found in
	// recovery does not count as a reachable primary.
	primaryCheck bool
}

func (n *Node) onCheckReq(from NodeID, m Message) {
	if m.Pause {
		// Somebody coordinates a failover: one promotion at a time.
		n.foreignFOUntil = max(n.foreignFOUntil, n.now+n.foWindow())
	}
	n.startCheckJob(from, m.Target, m.Round, m.Pause)
}

func (n *Node) startCheckJob(from, target NodeID, round uint64, pause bool) {
	id := n.nextSeq()
	j := &checkJob{from: from, round: round, target: target, primaryCheck: pause}
	n.checks[id] = j
	switch {
	case target == "":
		j.dbDone = true
	case target == n.p.Self:
		// Asked about our own database: answer from our own probes.
		// A fenced database is stopped or on its way down: not a primary.
		j.reached = n.local.last.Reachable && n.now-n.local.lastOK < n.p.LocalTimeout &&
			!(pause && (n.local.last.InRecovery || n.st.Fenced))
		j.dbDone = true
	default:
		seq := n.nextSeq()
		n.pending[seq] = pendingOp{kind: opJobDB, job: id, node: target}
		n.emit(CheckRemoteDB{Seq: seq, Node: target, Timeout: n.p.RemoteTimeout / 2})
	}
	if pause && n.role == RoleStandby && n.local.last.Reachable {
		seq := n.nextSeq()
		n.pending[seq] = pendingOp{kind: opPauseProbe, job: id}
		n.emit(DoDB{Seq: seq, Op: OpPauseReplay, Timeout: n.p.RemoteTimeout / 2})
	} else {
		j.pauseDone = true
	}
	n.maybeFinishJob(id)
}

func (n *Node) pauseProbeDone(op pendingOp, e LocalDBProbe) {
	if j, ok := n.checks[op.job]; ok {
		j.pauseDone = true
		n.maybeFinishJob(op.job)
	}
}

func (n *Node) maybeFinishJob(id uint64) {
	j := n.checks[id]
	if j == nil || !j.dbDone || !j.pauseDone {
		return
	}
	delete(n.checks, id)
	st := n.myStatus()
	resp := Message{Type: MsgCheckResp, Round: j.round, Target: j.target, OK: j.reached, Status: &st}
	if j.from == n.p.Self {
		resp.From = n.p.Self
		n.onCheckResp(n.p.Self, resp)
		return
	}
	n.send(j.from, resp)
}

func (n *Node) onCheckResp(from NodeID, m Message) {
	if m.Target == n.p.Self && n.local.phase == lmAsking && m.Round == n.local.askRound {
		n.onAskResp(from, m)
		return
	}
	if n.fo != nil {
		n.onFoResp(from, m)
	}
}
