// Command bytelevel is the smallest offset gateway offsetkit supports: a hand-written Kafka
// connection loop in the shape of the SeaweedFS Kafka gateway, where every API is a handler
// from (version, request body bytes) to response body bytes, and the loop itself frames the
// responses. The offset APIs are offsetkit's protocol.Handler.HandleBody; ApiVersions, Metadata
// and FindCoordinator are the few lines a client needs before it sends them.
//
// It shows the byte-level entry points: protocol.ReadRequestHeader parses the request header
// to spec (nullable client id, flexible-header tags, the ApiVersions exception), and
// Handler.HandleBody takes and returns bodies, so an existing gateway with its own codec can
// swap its offset handlers for offsetkit's without touching the rest.
//
// Usage:
//
//	go run -C examples ./bytelevel [-addr 127.0.0.1:9093] [-topics t1:3]
//
// There is no group coordinator here: offsets are committed and fetched by standalone clients
// (generation -1), as admin tools, Sarama's OffsetManager and kafka-go's Client do. Topic ids
// are not resolved, so OffsetCommit and OffsetFetch are served up to v9.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/offsetkit/offsetkit/memstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("bytelevel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9093", "listen address")
	topicsFlag := fs.String("topics", "t1:3", "topics served, as name:partitions[,...]")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	topics, err := parseTopics(*topicsFlag)
	if err != nil {
		fmt.Fprintln(stderr, "bytelevel:", err)
		return 2
	}
	store := memstore.New(memstore.Options{})
	defer store.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("listen", "err", err)
		return 1
	}
	g := newGateway(store, topics, log)
	log.Info("bytelevel gateway listening", "addr", ln.Addr().String())
	go func() {
		<-ctx.Done()
		g.Close()
	}()
	g.Serve(ln)
	return 0
}
