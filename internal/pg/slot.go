package pg

import (
	"context"
	"fmt"
	"regexp"
)

var slotName = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

// EnsurePhysicalSlot creates a physical replication slot on this (new)
// primary unless it exists. A standby repointed with primary_slot_name set
// streams only once its slot exists on the new primary, and slots are not
// copied by promotion (EFM's update.physical.slots.period exists for that).
// The slot reserves WAL at once, so the standby cannot fall behind the
// new primary's WAL recycling while it is restarted.
func (d *DB) EnsurePhysicalSlot(ctx context.Context, name string) error {
	if !slotName.MatchString(name) {
		return fmt.Errorf("replication slot name %q: want 1-63 of a-z, 0-9, _", name)
	}
	return d.exec(ctx, "create replication slot "+name,
		`SELECT pg_create_physical_replication_slot($1, true)
		 WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`, name)
}
