package server_test

import (
	"context"
	"fmt"
	"net"

	"github.com/offsetkit/offsetkit/examples/internal/server"
	"github.com/offsetkit/offsetkit/memstore"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A gateway over memstore on a free loopback port, and a franz-go admin client committing and
// fetching an offset through it.
func Example() {
	store := memstore.New(memstore.Options{})
	defer store.Close()
	topics, err := server.ParseTopics("t1:3")
	if err != nil {
		panic(err)
	}
	srv, err := server.New(server.Options{Store: store, Topics: topics})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)

	cl, err := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()))
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()

	offsets := make(kadm.Offsets)
	offsets.Add(kadm.Offset{Topic: "t1", Partition: 0, At: 42, LeaderEpoch: -1, Metadata: "hello"})
	if err := adm.CommitAllOffsets(ctx, "my-group", offsets); err != nil {
		panic(err)
	}
	fetched, err := adm.FetchOffsets(ctx, "my-group")
	if err != nil {
		panic(err)
	}
	o, _ := fetched.Lookup("t1", 0)
	fmt.Println(o.Topic, o.Partition, o.At, o.Metadata)
	// Output: t1 0 42 hello
}
