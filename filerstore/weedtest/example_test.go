package weedtest_test

import (
	"context"
	"testing"

	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/filerstore/weedtest"
	"github.com/offsetkit/offsetkit/offsetstore"
)

// A test starts a filer, opens a store on it, and checks that a committed offset survives a
// crash of the filer. (Compiled only: it needs a testing.T.)
func ExampleStart() {
	var t *testing.T // the test's *testing.T
	ctx := context.Background()

	srv := weedtest.Start(t) // stopped and removed when the test ends
	store, err := filerstore.Dial(ctx, srv.Addr(), filerstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	tp := offsetstore.TopicPartition{Topic: "orders", Partition: 0}
	if err := offsetstore.CommitOne(ctx, store, "billing", tp, offsetstore.Offset{Offset: 42, LeaderEpoch: -1}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Kill(); err != nil { // SIGKILL, as a crash would
		t.Fatal(err)
	}
	if err := srv.Restart(); err != nil { // same data directory and ports
		t.Fatal(err)
	}
	o, ok, err := offsetstore.FetchOne(ctx, store, "billing", tp)
	if err != nil || !ok || o.Offset != 42 {
		t.Fatalf("after restart: %v %v %v", o, ok, err)
	}
}
