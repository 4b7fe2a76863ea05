package store

import (
	"context"
	"fmt"

	"github.com/heraldhq/herald/notifications"
)

var _ notifications.BacklogCounter = (*Store)(nil)

// backlogQuery counts the waiting deliveries: a scan of the partial index
// the claim query uses (delivery_due_idx holds exactly the pending and
// retrying rows), grouped.
const backlogQuery = `SELECT processor, status, count(*) FROM delivery WHERE status IN ('pending', 'retrying') GROUP BY processor, status ORDER BY processor, status`

// DeliveryBacklog counts the pending and retrying deliveries by processor
// and status, for the herald.deliveries.backlog gauge
// (notifications.BacklogCounter).
func (s *Store) DeliveryBacklog(ctx context.Context) ([]notifications.BacklogCount, error) {
	var out []notifications.BacklogCount
	err := s.read(ctx, func() error {
		out = out[:0]
		rows, err := s.db.QueryContext(ctx, backlogQuery)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c notifications.BacklogCount
			var status string
			if err := rows.Scan(&c.Processor, &status, &c.Count); err != nil {
				return err
			}
			c.Status = notifications.DeliveryStatus(status)
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: delivery backlog: %w", err)
	}
	return out, nil
}
