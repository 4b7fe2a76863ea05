package slack_test

import (
	"testing"

	"github.com/heraldhq/herald/processors/slack"
	"github.com/heraldhq/herald/processors/slack/slacktest"
	"github.com/heraldhq/herald/store"
)

// Herald's bun store is the durable TimestampStore.
var _ slack.TimestampStore = (*store.Store)(nil)

func TestMemoryTimestamps(t *testing.T) {
	t.Parallel()
	slacktest.RunTimestampStore(t, func(*testing.T) slack.TimestampStore { return slack.NewMemoryTimestamps() })
}

func TestStoreTimestamps(t *testing.T) {
	t.Parallel()
	slacktest.RunTimestampStore(t, func(t *testing.T) slack.TimestampStore {
		st, err := store.OpenSQLite(t.Context(), ":memory:")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	})
}
