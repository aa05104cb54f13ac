package migrate_test

import (
	"context"
	"fmt"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/migrate"
	"github.com/offsetkit/offsetkit/offsetstore"
)

func Example() {
	ctx := context.Background()
	legacy := memstore.New(memstore.Options{})  // the store a deployment is leaving
	primary := memstore.New(memstore.Options{}) // the store it moves to
	tp := offsetstore.TopicPartition{Topic: "orders", Partition: 0}
	_ = offsetstore.CommitOne(ctx, legacy, "billing", tp, offsetstore.Offset{Offset: 42, LeaderEpoch: -1})

	s := migrate.New(primary, legacy, migrate.Options{})
	defer s.Close()

	o, ok, _ := offsetstore.FetchOne(ctx, s, "billing", tp)
	fmt.Println("served:", o.Offset, ok)
	o, ok, _ = offsetstore.FetchOne(ctx, primary, "billing", tp)
	fmt.Println("copied into the primary:", o.Offset, ok)
	// Output:
	// served: 42 true
	// copied into the primary: 42 true
}
