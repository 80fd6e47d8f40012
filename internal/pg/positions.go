package pg

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ReplayPositions maps the address of each standby streaming from this
// primary (pg_stat_replication.client_addr) to the replay_lsn it reports:
// what update.physical.slots.period sends for a standby without a slot
// here. It needs pg_read_all_stats (or superuser) to see the addresses.
func (d *DB) ReplayPositions(ctx context.Context) (map[string]LSN, error) {
	out := map[string]LSN{}
	err := d.withConn(ctx, false, func(ctx context.Context, c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT host(client_addr), replay_lsn::text FROM pg_stat_replication
			WHERE client_addr IS NOT NULL AND replay_lsn IS NOT NULL`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var addr string
			var replay *string
			if err := rows.Scan(&addr, &replay); err != nil {
				return err
			}
			l, err := parseNullLSN(replay)
			if err != nil {
				return err
			}
			if l > out[addr] {
				out[addr] = l
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("read standby replay positions on %s: %w", d.cfg.Node, err)
	}
	return out, nil
}
