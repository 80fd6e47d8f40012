package pg

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

var slotName = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

// slotPrefix marks the slots OpenEFM manages: only these are ever dropped,
// never an operator's own.
const slotPrefix = "efm_"

// SlotName is the physical replication slot name of a node, derived from
// its address (the IP of bind.address): "efm_" and the address with every
// character a slot name cannot hold made "_" ("10.0.0.12" becomes
// "efm_10_0_0_12", "fd00::7" "efm_fd00__7"). EDB EFM does not name slots
// itself (it copies the primary's slot names, each standby's
// primary_slot_name); OpenEFM derives them so that every node knows every
// peer's slot name without asking, and the prefix tells its slots from an
// operator's.
func SlotName(node string) string {
	var b strings.Builder
	b.WriteString(slotPrefix)
	for _, r := range strings.ToLower(node) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 63 {
		s = s[:63]
	}
	return s
}

// IsManagedSlot tells whether name is a slot OpenEFM created (SlotName).
func IsManagedSlot(name string) bool { return strings.HasPrefix(name, slotPrefix) }

func checkSlotName(name string) error {
	if !slotName.MatchString(name) {
		return fmt.Errorf("replication slot name %q: want 1-63 of a-z, 0-9, _", name)
	}
	return nil
}

// EnsurePhysicalSlot creates a physical replication slot on this (new)
// primary unless it exists. A standby repointed with primary_slot_name set
// streams only once its slot exists on the new primary, and slots are not
// copied by promotion (EFM's update.physical.slots.period exists for that).
// The slot reserves WAL at once, so the standby cannot fall behind the
// new primary's WAL recycling while it is restarted.
func (d *DB) EnsurePhysicalSlot(ctx context.Context, name string) error {
	if err := checkSlotName(name); err != nil {
		return err
	}
	return d.exec(ctx, "create replication slot "+name,
		`SELECT pg_create_physical_replication_slot($1, true)
		 WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`, name)
}

// Slot is one physical replication slot.
type Slot struct {
	Name       string
	RestartLSN LSN // InvalidLSN when no WAL is reserved
	Active     bool
	// HasXmin: a standby with hot_standby_feedback pins rows through the
	// slot; a copy of such a slot on a standby would hold back vacuum
	// after promotion, so EFM drops and recreates it instead of
	// advancing.
	HasXmin bool
}

// PhysicalSlots lists this server's physical replication slots.
func (d *DB) PhysicalSlots(ctx context.Context) ([]Slot, error) {
	var slots []Slot
	err := d.withConn(ctx, false, func(ctx context.Context, c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT slot_name::text, restart_lsn::text, active, xmin IS NOT NULL
			FROM pg_replication_slots WHERE slot_type = 'physical' ORDER BY slot_name`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s Slot
			var restart *string
			if err := rows.Scan(&s.Name, &restart, &s.Active, &s.HasXmin); err != nil {
				return err
			}
			if s.RestartLSN, err = parseNullLSN(restart); err != nil {
				return err
			}
			slots = append(slots, s)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list replication slots on %s: %w", d.cfg.Node, err)
	}
	return slots, nil
}

// AdvancePhysicalSlot moves a slot's restart_lsn forward to lsn, so the
// WAL before it can be recycled. On a standby PostgreSQL caps the move at
// what it has replayed; a slot never moves backwards (an lsn behind it is
// a no-op). It returns where the slot is afterwards.
func (d *DB) AdvancePhysicalSlot(ctx context.Context, name string, lsn LSN) (LSN, error) {
	if err := checkSlotName(name); err != nil {
		return InvalidLSN, err
	}
	var end string
	if err := d.queryRow(ctx, "advance replication slot "+name,
		"SELECT end_lsn::text FROM pg_replication_slot_advance($1, $2::text::pg_lsn)", []any{name, lsn.String()}, &end); err != nil {
		return InvalidLSN, err
	}
	return ParseLSN(end)
}

// DropPhysicalSlot drops a slot if it exists. An active slot (a standby
// streams through it) is not dropped: PostgreSQL refuses, and the error
// says so.
func (d *DB) DropPhysicalSlot(ctx context.Context, name string) error {
	if err := checkSlotName(name); err != nil {
		return err
	}
	return d.exec(ctx, "drop replication slot "+name,
		`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, name)
}

// SlotSyncReport says what SyncPhysicalSlots did.
type SlotSyncReport struct {
	Created, Recreated, Advanced []string
	Problems                     []error // slots that could not be kept (EFM 5.3: a WARNING)
}

// SyncPhysicalSlots keeps this standby's copies of the primary's slots
// (update.physical.slots.period): for every name in want, the slot is
// advanced to the primary's restart_lsn for it (at most to what this
// standby has replayed). create (a promotable standby) also creates
// missing slots, and drops and recreates one holding an xmin; without it
// (a non-promotable standby) only existing slots are advanced, as EFM
// does. A slot that fails is reported and the others still kept.
//
// Measured on PostgreSQL 15: a standby can create physical slots and
// advance them (capped at its replay position); they survive its
// promotion, and a peer then streams through its slot with the WAL it
// needs retained.
func (d *DB) SyncPhysicalSlots(ctx context.Context, want map[string]LSN, create bool) (SlotSyncReport, error) {
	var rep SlotSyncReport
	have, err := d.PhysicalSlots(ctx)
	if err != nil {
		return rep, err
	}
	byName := map[string]Slot{}
	for _, s := range have {
		byName[s.Name] = s
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		s, ok := byName[name]
		switch {
		case !ok && !create:
			continue
		case !ok:
			if err := d.EnsurePhysicalSlot(ctx, name); err != nil {
				rep.Problems = append(rep.Problems, err)
				continue
			}
			rep.Created = append(rep.Created, name)
		case s.HasXmin && create:
			if err := errors.Join(d.DropPhysicalSlot(ctx, name), d.EnsurePhysicalSlot(ctx, name)); err != nil {
				rep.Problems = append(rep.Problems, err)
				continue
			}
			rep.Recreated = append(rep.Recreated, name)
		}
		if want[name] == InvalidLSN {
			continue
		}
		if _, err := d.AdvancePhysicalSlot(ctx, name, want[name]); err != nil {
			rep.Problems = append(rep.Problems, err)
			continue
		}
		rep.Advanced = append(rep.Advanced, name)
	}
	return rep, nil
}
