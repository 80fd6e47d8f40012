package core

// The two thresholds of the safety protocol. Both count `of` as every
// voting member (numVoters: database agents and witnesses, DOWN members
// included, a cleanly left member for one VoteHold more), never only the
// members that answer: a count that shrank with the members it could not
// reach would let each side of a partition reach its threshold alone.
//
// They differ on purpose, and the difference is the whole argument:
// at least half plus a strict majority is more than `of`, so any set that
// acknowledged a lease and any set that elected a promotion share a voter
// (Timing, point 4; TestThresholdsIntersect checks it). That voter's lease
// hold keeps the promotion from completing before the lease it acknowledged
// has run out.

// atLeastHalf is the lease threshold: a renewal round acknowledged by
// n of the `of` voting members, the holder included, keeps (or makes) the
// lease valid. Half, not a strict majority, is EFM's rule: on an even split
// the primary's side keeps the primary, and the other side cannot promote
// because a promotion needs a strict majority. Requiring a strict majority
// here would fence a healthy primary on an even split with nobody able to
// replace it.
func atLeastHalf(n, of int) bool { return 2*n >= of }

// strictMajority is the promotion threshold: the votes a candidate needs in
// its epoch. Two strict majorities intersect and a voter votes once per
// epoch, so an epoch elects at most one candidate; and a strict majority
// intersects the at-least-half that acknowledged the current lease. Decide
// applies it first to the members the coordinator heard from in its check
// round (EFM's "Subset of cluster disconnected from primary"): a side that
// could not win the vote does not start one.
func strictMajority(n, of int) bool { return 2*n > of }
