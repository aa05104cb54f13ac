package interop

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/examples/internal/server"
	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// gateway is an in-process gateway on a free loopback port.
type gateway struct {
	addr  string
	srv   *server.Server
	store offsetstore.Store
}

// startGateway serves store (memstore when nil) with the given topics ("t1:3" when empty) on
// 127.0.0.1 and stops the gateway (not the store) when the test ends.
func startGateway(t testing.TB, store offsetstore.Store, topics string) *gateway {
	t.Helper()
	if store == nil {
		store = memstore.New(memstore.Options{})
		t.Cleanup(func() { store.Close() })
	}
	if topics == "" {
		topics = "t1:3"
	}
	return startGatewayOpts(t, server.Options{Store: store}, topics)
}

// startGatewayOpts is startGateway with more options; opts.Store must be set, and its Topics
// and Logger are set here.
func startGatewayOpts(t testing.TB, opts server.Options, topics string) *gateway {
	t.Helper()
	store := opts.Store
	ts, err := server.ParseTopics(topics)
	require.NoError(t, err)
	opts.Topics, opts.Logger = ts, testLogger()
	srv, err := server.New(opts)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		require.NoError(t, <-done)
	})
	return &gateway{addr: ln.Addr().String(), srv: srv, store: store}
}

// testLogger logs warnings and errors, or everything with OFFSETKIT_TEST_DEBUG=1.
func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("OFFSETKIT_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newKgo returns a franz-go client of addr, closed when the test ends.
func newKgo(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RetryTimeout(10 * time.Second)}, opts...)
	cl, err := kgo.NewClient(opts...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

func newKadm(t testing.TB, addr string) *kadm.Client {
	return kadm.NewClient(newKgo(t, addr))
}

// offsets builds kadm offsets for topic t1 from partition -> offset.
func offsets(topic string, at map[int32]int64, metadata string) kadm.Offsets {
	os := make(kadm.Offsets)
	for p, o := range at {
		os.Add(kadm.Offset{Topic: topic, Partition: p, At: o, LeaderEpoch: -1, Metadata: metadata})
	}
	return os
}

func contextWithTimeout(t testing.TB, d time.Duration) (context.Context, context.CancelFunc) {
	t.Helper()
	return context.WithTimeout(testContext(t), d)
}
