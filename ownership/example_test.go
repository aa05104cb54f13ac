package ownership_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/ownership"
)

// Two gateways share one store (in a real deployment, a filerstore on the same filer root):
// they divide the groups, agree on each group's coordinator, and the one that does not own a
// group refuses it.
func Example() {
	ctx := context.Background()
	shared := memstore.New(memstore.Options{})
	defer shared.Close()

	a, err := ownership.Start(ctx, shared, ownership.Options{NodeID: 1, Addr: "gw-a:9092", Manual: true})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := ownership.Start(ctx, shared, ownership.Options{NodeID: 2, Addr: "gw-b:9092", Manual: true})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	// The goroutine of each node does this every Options.Interval; Manual nodes are driven
	// by hand: a sees b and releases half of the shards, b takes them.
	for _, n := range []*ownership.Node{a, b, a, b} {
		if err := n.Sync(ctx); err != nil {
			panic(err)
		}
		if err := n.Ready(ctx); err != nil {
			panic(err)
		}
	}
	fmt.Println("shards:", len(a.OwnedShards()), len(b.OwnedShards()))

	coord, _ := a.Coordinator("orders")
	same, _ := b.Coordinator("orders")
	fmt.Println("both name the same coordinator:", coord == same)

	owner, other := a, b
	if coord.ID == 2 {
		owner, other = b, a
	}
	tp := offsetstore.TopicPartition{Topic: "t", Partition: 0}
	err = offsetstore.CommitOne(ctx, owner.Store(), "orders", tp, offsetstore.Offset{Offset: 42, LeaderEpoch: -1})
	fmt.Println("commit at the coordinator:", err)
	err = offsetstore.CommitOne(ctx, other.Store(), "orders", tp, offsetstore.Offset{Offset: 43, LeaderEpoch: -1})
	fmt.Println("commit elsewhere refused:", errors.Is(err, offsetstore.ErrNotOwner))
	o, _, _ := offsetstore.FetchOne(ctx, owner.Store(), "orders", tp)
	fmt.Println("offset:", o.Offset)
	// Output:
	// shards: 32 32
	// both name the same coordinator: true
	// commit at the coordinator: <nil>
	// commit elsewhere refused: true
	// offset: 42
}
