package notificationstest

import (
	"testing"

	"github.com/heraldhq/herald/notifications"
)

// RunSchedules runs every scheduled send due now at svc's clock, before it
// returns (notifications.Service.RunDueSchedules), and returns how many
// sends it committed. It fails t if claiming fails. A run that failed and
// is retried is due later: advance the clock and call RunSchedules again.
// The deliveries of the sends it ran are then due: run them with
// DeliverAll.
//
// Give the Service a negative Config.DeliveryWorkers to keep its own
// scheduler from running schedules between Schedule and RunSchedules.
func RunSchedules(t testing.TB, svc *notifications.Service) int {
	t.Helper()
	n, err := svc.RunDueSchedules(t.Context())
	if err != nil {
		t.Fatalf("notificationstest: run due schedules: %v", err)
	}
	return n
}
