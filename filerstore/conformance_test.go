package filerstore_test

import (
	"context"
	"path"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/offsetstore/storetest"
	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
)

// harness opens stores on one root of the shared filer: every store it opens sees what the
// previous one acknowledged, so the suite checks durability across Close and Open.
type harness struct {
	client filer_pb.SeaweedFilerClient
	root   string
}

func (h harness) Open(context.Context) (offsetstore.Store, error) {
	return filerstore.New(h.client, filerstore.Options{Root: h.root})
}

func (harness) Durable() bool { return true }

func (h harness) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, name := path.Split(h.root)
	for _, n := range []string{name, name + ".offsetkit"} { // the offsets, and the group fences and states
		h.client.DeleteEntry(ctx, &filer_pb.DeleteEntryRequest{Directory: path.Clean(dir), Name: n, IsDeleteData: true, IsRecursive: true})
	}
}

// TestConformance runs the storetest suite against a real filer, on the current RPCs and on
// each generation of older filer (each falling back to the RPCs it has).
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name          string
		unimplemented []string
	}{
		{"current", nil},
		{"no-ObjectTransaction", []string{"ObjectTransaction"}},
		{"legacy", newerRPCs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Run(t, func(ctx context.Context, t *testing.T) (storetest.Harness, error) {
				c := &wrapClient{SeaweedFilerClient: filerClient(t), unimplemented: tc.unimplemented}
				return harness{client: c, root: newRoot(t)}, nil
			})
		})
	}
}
