package chaos

import (
	"fmt"
	"math"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/openefm/efm/integration/harness"
)

// The history model: the table efmi_writer is a set of ids, and every id
// is a register of its own that starts absent. A writer's INSERT of id is
// add(id); the final read of the table on the settled primary is, per id,
// read(id) -> present or absent. porcupine checks each id's partition:
// an acknowledged add must be visible to a read that started after it
// returned; a failed add (it may or may not have committed) stays open to
// the end of the history, so the checker may place it before the read or
// after it; an id present that nobody added cannot be explained.

type opKind uint8

const (
	opAdd opKind = iota
	opRead
)

type setInput struct {
	kind opKind
	id   int64
}

// registerModel is one id's register: state true once added.
var registerModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[int64][]porcupine.Operation{}
		var order []int64
		for _, op := range h {
			id := op.Input.(setInput).id
			if _, ok := by[id]; !ok {
				order = append(order, id)
			}
			by[id] = append(by[id], op)
		}
		out := make([][]porcupine.Operation, 0, len(order))
		for _, id := range order {
			out = append(out, by[id])
		}
		return out
	},
	Init: func() any { return false },
	Step: func(state, input, output any) (bool, any) {
		in := input.(setInput)
		if in.kind == opAdd {
			return true, true
		}
		return output.(bool) == state.(bool), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(setInput)
		if in.kind == opAdd {
			return fmt.Sprintf("add(%d)", in.id)
		}
		return fmt.Sprintf("read(%d) -> %v", in.id, output)
	},
}

// checkLinearizable builds the history of the writers' reports and one
// read of the final primary's ids (have, read between readStart and
// readEnd) and asks porcupine. The verdict is "Ok", "Illegal" or
// "Unknown" (timed out); detail names ids that cannot be explained.
func checkLinearizable(reports []harness.WriterReport, have map[int64]bool, readStart, readEnd time.Time) (string, string) {
	var ops []porcupine.Operation
	attempted := map[int64]bool{}
	for client, wr := range reports {
		for _, a := range wr.Acks {
			attempted[a.ID] = true
			ops = append(ops, porcupine.Operation{ClientId: client, Input: setInput{opAdd, a.ID}, Call: a.Sent.UnixNano(), Return: a.Acked.UnixNano()})
		}
		for _, f := range wr.Failed {
			attempted[f.ID] = true
			// Unknown outcome: open until the end of time.
			ops = append(ops, porcupine.Operation{ClientId: client, Input: setInput{opAdd, f.ID}, Call: f.Sent.UnixNano(), Return: math.MaxInt64})
		}
	}
	reader := len(reports)
	var strays []int64
	for id := range attempted {
		ops = append(ops, porcupine.Operation{ClientId: reader, Input: setInput{opRead, id}, Output: have[id], Call: readStart.UnixNano(), Return: readEnd.UnixNano()})
	}
	for id := range have {
		if !attempted[id] {
			strays = append(strays, id)
			ops = append(ops, porcupine.Operation{ClientId: reader, Input: setInput{opRead, id}, Output: true, Call: readStart.UnixNano(), Return: readEnd.UnixNano()})
		}
	}
	res, info := porcupine.CheckOperationsVerbose(registerModel, ops, time.Minute)
	if res == porcupine.Ok {
		return string(res), ""
	}
	detail := fmt.Sprintf("porcupine says %s for %d operations", res, len(ops))
	if len(strays) > 0 {
		detail += fmt.Sprintf("; ids on the primary that no writer sent: %v", head(strays, 10))
	}
	_ = info
	return string(res), detail
}
