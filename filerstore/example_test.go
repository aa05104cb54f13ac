package filerstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/offsetstore"
)

func ExampleEscapeName() {
	for _, group := range []string{"orders", "a/b", "..", "", "100%"} {
		fmt.Printf("%q -> %q\n", group, filerstore.EscapeName(group))
	}
	// Output:
	// "orders" -> "orders"
	// "a/b" -> "a%2Fb"
	// ".." -> "%2E%2E"
	// "" -> "%"
	// "100%" -> "100%25"
}

func ExampleUnescapeName() {
	name, err := filerstore.UnescapeName("a%2Fb")
	fmt.Printf("%q %v\n", name, err)
	// Output:
	// "a/b" <nil>
}

// ExampleDial shows a gateway committing and fetching an offset through a filer. It needs a
// running filer, so it has no Output and is only compiled.
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	store, err := filerstore.Dial(ctx, "127.0.0.1:18888", filerstore.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	tp := offsetstore.TopicPartition{Topic: "orders", Partition: 0}
	err = offsetstore.CommitOne(ctx, store, "billing", tp, offsetstore.Offset{Offset: 42, LeaderEpoch: -1, CommitTime: time.Now()})
	if err != nil {
		fmt.Println(err)
		return
	}
	o, ok, err := offsetstore.FetchOne(ctx, store, "billing", tp)
	fmt.Println(o.Offset, ok, err)
}
