package filerstore_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/filerstore/weedtest"
	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// filer is the weed process shared by the tests of this package; each test works under its
// own root directory.
var filer struct {
	srv    *weedtest.Server
	conn   *grpc.ClientConn
	client filer_pb.SeaweedFilerClient
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	srv, err := weedtest.New(weedtest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Close()
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()
	filer.srv, filer.conn, filer.client = srv, conn, filer_pb.NewSeaweedFilerClient(conn)
	return m.Run()
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
	if opts.Root == "" {
		opts.Root = newRoot(t)
	}
	s, err := filerstore.New(filer.client, opts)
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
