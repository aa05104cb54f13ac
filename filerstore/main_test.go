package filerstore_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/filerstore/weedtest"
	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// shared is the weed process shared by the tests of this package, started by the first test
// that needs it (so tests without a filer, and fuzz workers, start none); each test works
// under its own root directory.
var shared struct {
	once   sync.Once
	err    error
	srv    *weedtest.Server
	conn   *grpc.ClientConn
	client filer_pb.SeaweedFilerClient
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.conn != nil {
		shared.conn.Close()
	}
	if shared.srv != nil {
		if err := shared.srv.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(code)
}

// filerClient returns a client of the shared filer, starting it on first use.
func filerClient(t testing.TB) filer_pb.SeaweedFilerClient {
	t.Helper()
	shared.once.Do(func() {
		srv, err := weedtest.New(weedtest.Options{})
		if err != nil {
			shared.err = err
			return
		}
		conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			srv.Close()
			shared.err = err
			return
		}
		shared.srv, shared.conn, shared.client = srv, conn, filer_pb.NewSeaweedFilerClient(conn)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.client
}

var rootSeq atomic.Int64

// newRoot returns a root directory no other test uses.
func newRoot(t testing.TB) string {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return fmt.Sprintf("/offsetkit-test/%s-%d-%d", name, time.Now().UnixNano(), rootSeq.Add(1))
}

// newStore returns a Store on the shared filer under a fresh root, closed when t ends.
func newStore(t testing.TB, opts filerstore.Options) *filerstore.Store {
	t.Helper()
	return newStoreOn(t, filerClient(t), opts)
}

// newStoreOn returns a Store on client under a fresh root (unless opts has one), closed
// when t ends.
func newStoreOn(t testing.TB, client filer_pb.SeaweedFilerClient, opts filerstore.Options) *filerstore.Store {
	t.Helper()
	if opts.Root == "" {
		opts.Root = newRoot(t)
	}
	s, err := filerstore.New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
