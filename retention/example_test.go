package retention_test

import (
	"context"
	"fmt"
	"time"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/retention"
)

func Example() {
	ctx := context.Background()
	store := memstore.New(memstore.Options{})
	defer store.Close()

	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tp := offsetstore.TopicPartition{Topic: "orders", Partition: 0}
	_ = offsetstore.CommitOne(ctx, store, "billing", tp, offsetstore.Offset{Offset: 42, CommitTime: now})

	sw, err := retention.New(store, retention.Options{
		Retention: 7 * 24 * time.Hour,
		Now:       func() time.Time { return now.Add(8 * 24 * time.Hour) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sw.Close()
	// A gateway calls sw.Start(ctx) to sweep every Interval; here one pass runs on demand.
	st, _ := sw.Sweep(ctx)
	fmt.Println("expired:", st.Expired)
	// Output: expired: 1
}
