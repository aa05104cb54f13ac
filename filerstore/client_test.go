package filerstore_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/credentials/insecure"

	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// wrapClient is a filer client that counts the RPCs it forwards to a real filer, and can
// make some of them fail: to play a filer without the newer RPCs (Unimplemented) or a
// failing one.
type wrapClient struct {
	filer_pb.SeaweedFilerClient
	// unimplemented names RPCs that answer Unimplemented, as on a filer older than them.
	unimplemented []string
	// fail, if set, is asked before each RPC; a non-nil error is returned instead of
	// calling the filer.
	fail func(method string) error
	// txnFault, if set, is asked about each transaction (alone or in a batch); a non-nil
	// response is returned for it instead of applying it.
	txnFault func(*filer_pb.ObjectTransactionRequest) *filer_pb.ObjectTransactionResponse
	// latency, if set, delays every RPC, as a filer across a network would (benchmarks only).
	latency time.Duration

	mu    sync.Mutex
	calls map[string]int
}

// newerRPCs are the RPCs the store uses that old filers lack.
var newerRPCs = []string{"ObjectTransaction", "ObjectTransactionBatch", "StreamMutateEntry", "LookupDirectoryEntries", "TraverseBfsMetadata"}

func (c *wrapClient) enter(method string) error {
	c.mu.Lock()
	if c.calls == nil {
		c.calls = make(map[string]int)
	}
	c.calls[method]++
	c.mu.Unlock()
	if c.latency > 0 {
		time.Sleep(c.latency)
	}
	if slices.Contains(c.unimplemented, method) {
		return status.Errorf(codes.Unimplemented, "unknown method %s for service filer_pb.SeaweedFiler", method)
	}
	if c.fail != nil {
		return c.fail(method)
	}
	return nil
}

// count returns how many times method was called.
func (c *wrapClient) count(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[method]
}

func (c *wrapClient) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = nil
}

func (c *wrapClient) LookupDirectoryEntry(ctx context.Context, in *filer_pb.LookupDirectoryEntryRequest, opts ...grpc.CallOption) (*filer_pb.LookupDirectoryEntryResponse, error) {
	if err := c.enter("LookupDirectoryEntry"); err != nil {
		return nil, err
	}
	return c.SeaweedFilerClient.LookupDirectoryEntry(ctx, in, opts...)
}

func (c *wrapClient) LookupDirectoryEntries(ctx context.Context, in *filer_pb.LookupDirectoryEntriesRequest, opts ...grpc.CallOption) (*filer_pb.LookupDirectoryEntriesResponse, error) {
	if err := c.enter("LookupDirectoryEntries"); err != nil {
		return nil, err
	}
	return c.SeaweedFilerClient.LookupDirectoryEntries(ctx, in, opts...)
}

func (c *wrapClient) ListEntries(ctx context.Context, in *filer_pb.ListEntriesRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[filer_pb.ListEntriesResponse], error) {
	if err := c.enter("ListEntries"); err != nil {
		return nil, err
	}
	return c.SeaweedFilerClient.ListEntries(ctx, in, opts...)
}

func (c *wrapClient) CreateEntry(ctx context.Context, in *filer_pb.CreateEntryRequest, opts ...grpc.CallOption) (*filer_pb.CreateEntryResponse, error) {
	if err := c.enter("CreateEntry"); err != nil {
		return nil, err
	}
	return c.SeaweedFilerClient.CreateEntry(ctx, in, opts...)
}

func (c *wrapClient) DeleteEntry(ctx context.Context, in *filer_pb.DeleteEntryRequest, opts ...grpc.CallOption) (*filer_pb.DeleteEntryResponse, error) {
	if err := c.enter("DeleteEntry"); err != nil {
		return nil, err
	}
	return c.SeaweedFilerClient.DeleteEntry(ctx, in, opts...)
}

func (c *wrapClient) StreamMutateEntry(ctx context.Context, opts ...grpc.CallOption) (grpc.BidiStreamingClient[filer_pb.StreamMutateEntryRequest, filer_pb.StreamMutateEntryResponse], error) {
	if err := c.enter("StreamMutateEntry"); err != nil {
		return nil, err
	}
	return c.SeaweedFilerClient.StreamMutateEntry(ctx, opts...)
}

func (c *wrapClient) ObjectTransaction(ctx context.Context, in *filer_pb.ObjectTransactionRequest, opts ...grpc.CallOption) (*filer_pb.ObjectTransactionResponse, error) {
	if err := c.enter("ObjectTransaction"); err != nil {
		return nil, err
	}
	if c.txnFault != nil {
		if r := c.txnFault(in); r != nil {
			return r, nil
		}
	}
	return c.SeaweedFilerClient.ObjectTransaction(ctx, in, opts...)
}

func (c *wrapClient) ObjectTransactionBatch(ctx context.Context, in *filer_pb.ObjectTransactionBatchRequest, opts ...grpc.CallOption) (*filer_pb.ObjectTransactionBatchResponse, error) {
	if err := c.enter("ObjectTransactionBatch"); err != nil {
		return nil, err
	}
	if c.txnFault == nil {
		return c.SeaweedFilerClient.ObjectTransactionBatch(ctx, in, opts...)
	}
	faults := make([]*filer_pb.ObjectTransactionResponse, len(in.Transactions))
	fwd := &filer_pb.ObjectTransactionBatchRequest{}
	for i, txn := range in.Transactions {
		if faults[i] = c.txnFault(txn); faults[i] == nil {
			fwd.Transactions = append(fwd.Transactions, txn)
		}
	}
	resp := &filer_pb.ObjectTransactionBatchResponse{}
	if len(fwd.Transactions) > 0 {
		var err error
		if resp, err = c.SeaweedFilerClient.ObjectTransactionBatch(ctx, fwd, opts...); err != nil {
			return nil, err
		}
	}
	out := &filer_pb.ObjectTransactionBatchResponse{}
	for _, f := range faults {
		if f == nil {
			f, resp.Responses = resp.Responses[0], resp.Responses[1:]
		}
		out.Responses = append(out.Responses, f)
	}
	return out, nil
}

func (c *wrapClient) TraverseBfsMetadata(ctx context.Context, in *filer_pb.TraverseBfsMetadataRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[filer_pb.TraverseBfsMetadataResponse], error) {
	if err := c.enter("TraverseBfsMetadata"); err != nil {
		return nil, err
	}
	return c.SeaweedFilerClient.TraverseBfsMetadata(ctx, in, opts...)
}

// mustConn returns a filer client on a plaintext connection to addr, closed when t ends.
func mustConn(t testing.TB, addr string) filer_pb.SeaweedFilerClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return filer_pb.NewSeaweedFilerClient(conn)
}
