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
		n.holdFor(from)
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
		seq := n.await(pendingOp{awaits: awaitCheckDB, job: id})
		n.emit(CheckRemoteDB{Seq: seq, Node: target, Timeout: n.p.remoteDBCheckTimeout()})
	}
	if pause && target != n.p.Self {
		n.startEarlyProbes()
	}
	if pause && n.role == RoleStandby && n.local.last.Reachable {
		// Pause, then read the positions replay stopped at: half of
		// remote.timeout in all, as for the database check.
		n.doDBAwaiting(pendingOp{awaits: awaitReplayPaused, job: id}, OpPauseReplay, n.p.RemoteTimeout/4)
	} else {
		j.pauseDone = true
	}
	n.maybeFinishJob(id)
}

// checkDBDone: the check job's database check answered.
func (n *Node) checkDBDone(id uint64, e RemoteDBResult) {
	if j, ok := n.checks[id]; ok {
		// A database in recovery is no primary: reaching it is no
		// reason to hold a failover back.
		j.reached = e.Reachable && !(j.primaryCheck && e.InRecovery)
		j.dbDone = true
		n.maybeFinishJob(id)
	}
}

// replayPausedFor: the pause of job's check answered; the positions are
// read next. A pause that failed leaves them unknown, as a probe that
// failed would.
func (n *Node) replayPausedFor(job uint64, e DBOpResult) {
	if !e.OK {
		n.local.last.Reachable = false
		n.pausedProbeDone(job, LocalDBProbe{Err: e.Err})
		return
	}
	seq := n.await(pendingOp{awaits: awaitPausedProbe, job: job})
	n.emit(ProbeLocalDB{Seq: seq, Timeout: n.p.RemoteTimeout / 4})
}

// pausedProbeDone: this standby's positions after the pause are known (or
// in doubt); the check job may answer.
func (n *Node) pausedProbeDone(job uint64, e LocalDBProbe) {
	n.standby.replayPaused = e.ReplayPaused || e.Reachable
	n.standby.pausedUntil = n.now + n.failoverWindow()
	if j, ok := n.checks[job]; ok {
		j.pauseDone = true
		n.maybeFinishJob(job)
	}
}

func (n *Node) maybeFinishJob(id uint64) {
	j := n.checks[id]
	if j == nil || !j.dbDone || !j.pauseDone {
		return
	}
	delete(n.checks, id)
	st := n.myStatus()
	resp := Message{Type: MsgCheckResp, Round: j.round, Target: j.target, OK: j.reached, Status: &st,
		HeardAgent: n.hearsPrimaryAgent(j.target)}
	if j.from == n.p.Self {
		resp.From = n.p.Self
		n.onCheckResp(n.p.Self, resp)
		return
	}
	n.send(j.from, resp)
}

func (n *Node) onCheckResp(from NodeID, m Message) {
	if m.Target == n.p.Self && n.local.phase == askingOthers && m.Round == n.local.askRound {
		n.onAskResp(from, m)
		return
	}
	if n.failover != nil {
		n.onCheckRoundAnswer(from, m)
	}
}
