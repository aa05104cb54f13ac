package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
)

func ExampleNew() {
	ctx := context.Background()
	s := memstore.New(memstore.Options{})
	defer s.Close()

	tp := offsetstore.TopicPartition{Topic: "orders", Partition: 0}
	err := s.Commit(ctx, "billing", map[offsetstore.TopicPartition]offsetstore.Offset{
		tp: {Offset: 42, LeaderEpoch: 3, Metadata: "host-1", CommitTime: time.UnixMilli(1700000000123)},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	got, err := s.Fetch(ctx, "billing", []offsetstore.TopicPartition{
		tp,
		{Topic: "orders", Partition: 1}, // never committed: absent, not an error
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(got), got[tp].Offset, got[tp].LeaderEpoch, got[tp].Metadata, got[tp].CommitTime.UnixMilli())
	// Output: 1 42 3 host-1 1700000000123
}

func ExampleStore_DeleteGroup() {
	ctx := context.Background()
	s := memstore.New(memstore.Options{})
	defer s.Close()

	_ = offsetstore.CommitOne(ctx, s, "g", offsetstore.TopicPartition{Topic: "t", Partition: 0}, offsetstore.Offset{Offset: 7, LeaderEpoch: -1})
	fmt.Println(s.DeleteGroup(ctx, "g"))

	err := s.DeleteGroup(ctx, "g")
	fmt.Println(errors.Is(err, offsetstore.ErrGroupNotFound))

	groups, _ := s.ListGroups(ctx)
	fmt.Println(len(groups))
	// Output:
	// <nil>
	// true
	// 0
}

func ExampleStore_Close() {
	ctx := context.Background()
	s := memstore.New(memstore.Options{})
	fmt.Println(s.Close(), s.Close())

	_, err := s.FetchAll(ctx, "g")
	fmt.Println(errors.Is(err, offsetstore.ErrClosed))
	fmt.Println(err)
	// Output:
	// <nil> <nil>
	// true
	// offsetstore: FetchAll group "g": store is closed
}
