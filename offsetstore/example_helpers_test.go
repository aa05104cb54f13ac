package offsetstore_test

import (
	"context"
	"fmt"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
)

func ExampleFetchOne() {
	ctx := context.Background()
	var s offsetstore.Store = memstore.New(memstore.Options{})
	defer s.Close()

	tp := offsetstore.TopicPartition{Topic: "orders", Partition: 3}
	if err := offsetstore.CommitOne(ctx, s, "billing", tp, offsetstore.Offset{Offset: 1200, LeaderEpoch: -1}); err != nil {
		fmt.Println(err)
		return
	}
	o, ok, err := offsetstore.FetchOne(ctx, s, "billing", tp)
	fmt.Println(o.Offset, ok, err)

	// A partition with nothing committed is absent, not an error.
	_, ok, err = offsetstore.FetchOne(ctx, s, "billing", offsetstore.TopicPartition{Topic: "orders", Partition: 4})
	fmt.Println(ok, err)
	// Output:
	// 1200 true <nil>
	// false <nil>
}
