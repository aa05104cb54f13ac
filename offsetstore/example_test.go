package offsetstore_test

import (
	"context"
	"errors"
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

func ExampleError() {
	err := error(&offsetstore.Error{Op: "DeleteGroup", Group: "billing", Err: offsetstore.ErrGroupNotFound})
	fmt.Println(err)
	fmt.Println(errors.Is(err, offsetstore.ErrGroupNotFound))
	// Output:
	// offsetstore: DeleteGroup group "billing": offsetstore: group not found
	// true
}

func ExampleSortedPartitions() {
	m := map[offsetstore.TopicPartition]offsetstore.Offset{
		{Topic: "b", Partition: 0}:  {},
		{Topic: "a", Partition: 10}: {},
		{Topic: "a", Partition: 2}:  {},
	}
	fmt.Println(offsetstore.SortedPartitions(m))
	// Output: [a/2 a/10 b/0]
}
