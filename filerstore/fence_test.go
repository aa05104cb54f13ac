package filerstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
	"google.golang.org/grpc"
)

// holdClient holds the first ObjectTransaction (or ObjectTransactionBatch) sent after arm
// before it reaches the filer, until the test releases it: a write delayed in the gateway or
// the network.
type holdClient struct {
	filer_pb.SeaweedFilerClient
	mu      sync.Mutex
	armed   bool
	arrived chan struct{} // closed when the held call arrives
	release chan struct{} // closed by the test to let it go on
}

func (h *holdClient) arm() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.armed, h.arrived, h.release = true, make(chan struct{}), make(chan struct{})
}

// hold blocks the first call after arm until release is closed.
func (h *holdClient) hold(ctx context.Context) {
	h.mu.Lock()
	if !h.armed {
		h.mu.Unlock()
		return
	}
	h.armed = false
	arrived, release := h.arrived, h.release
	h.mu.Unlock()
	close(arrived)
	select {
	case <-release:
	case <-ctx.Done():
	}
}

func (h *holdClient) ObjectTransaction(ctx context.Context, in *filer_pb.ObjectTransactionRequest, opts ...grpc.CallOption) (*filer_pb.ObjectTransactionResponse, error) {
	h.hold(ctx)
	return h.SeaweedFilerClient.ObjectTransaction(ctx, in, opts...)
}

func (h *holdClient) ObjectTransactionBatch(ctx context.Context, in *filer_pb.ObjectTransactionBatchRequest, opts ...grpc.CallOption) (*filer_pb.ObjectTransactionBatchResponse, error) {
	h.hold(ctx)
	return h.SeaweedFilerClient.ObjectTransactionBatch(ctx, in, opts...)
}

// TestFenceDelayedWriteRefused holds a write checked against fence 1 until the fence has
// moved to 2 and a commit with fence 2 was acknowledged, then lets it reach the filer: a
// fenced write is refused by the filer and changes nothing, while an unfenced Commit (the
// control) lands and overwrites the newer offset.
func TestFenceDelayedWriteRefused(t *testing.T) {
	tp := offsetstore.TopicPartition{Topic: "t", Partition: 0}
	state := offsetstore.GroupState{Fence: 1, ProtocolType: "consumer", Generation: 1, Subscribed: []string{"t"}}
	tests := []struct {
		name   string
		write  func(ctx context.Context, s *filerstore.Store) error
		fenced bool
		want   offsetstore.Offset // what t/0 holds at the end
	}{
		{"CommitFenced", func(ctx context.Context, s *filerstore.Store) error {
			return s.CommitFenced(ctx, "g", 1, map[offsetstore.TopicPartition]offsetstore.Offset{tp: {Offset: 100, LeaderEpoch: -1, Metadata: "stale"}})
		}, true, offsetstore.Offset{Offset: 500, LeaderEpoch: -1, Metadata: "new"}},
		{"DeleteFenced", func(ctx context.Context, s *filerstore.Store) error {
			return s.DeleteFenced(ctx, "g", 1, []offsetstore.TopicPartition{tp})
		}, true, offsetstore.Offset{Offset: 500, LeaderEpoch: -1, Metadata: "new"}},
		{"ExpireOffsetsFenced", func(ctx context.Context, s *filerstore.Store) error {
			_, err := s.ExpireOffsetsFenced(ctx, "g", 1, func(offsetstore.TopicPartition, offsetstore.Offset) bool { return true })
			return err
		}, true, offsetstore.Offset{Offset: 500, LeaderEpoch: -1, Metadata: "new"}},
		{"DeleteGroupFenced", func(ctx context.Context, s *filerstore.Store) error {
			return s.DeleteGroupFenced(ctx, "g", 1)
		}, true, offsetstore.Offset{Offset: 500, LeaderEpoch: -1, Metadata: "new"}},
		{"SaveGroupState", func(ctx context.Context, s *filerstore.Store) error {
			return s.SaveGroupState(ctx, "g", 1, offsetstore.GroupState{Fence: 1, ProtocolType: "consumer", Generation: 9})
		}, true, offsetstore.Offset{Offset: 500, LeaderEpoch: -1, Metadata: "new"}},
		{"Commit (unfenced: lands)", func(ctx context.Context, s *filerstore.Store) error {
			return s.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{tp: {Offset: 100, LeaderEpoch: -1, Metadata: "stale"}})
		}, false, offsetstore.Offset{Offset: 100, LeaderEpoch: -1, Metadata: "stale"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			h := &holdClient{SeaweedFilerClient: filerClient(t)}
			s := newStoreOn(t, h, filerstore.Options{})
			if err := offsetstore.CommitOne(ctx, s, "g", tp, offsetstore.Offset{Offset: 1, LeaderEpoch: -1, Metadata: "first"}); err != nil {
				t.Fatal(err)
			}
			if err := s.SaveGroupState(ctx, "g", 0, state); err != nil {
				t.Fatal(err)
			}
			h.arm()
			done := make(chan error, 1)
			go func() { done <- tt.write(ctx, s) }()
			select {
			case <-h.arrived:
			case <-ctx.Done():
				t.Fatal("the write never sent a transaction")
			}
			if n, err := offsetstore.AdvanceFence(ctx, s, "g"); err != nil || n != 2 {
				t.Fatalf("AdvanceFence = %d, %v; want 2", n, err)
			}
			if err := s.CommitFenced(ctx, "g", 2, map[offsetstore.TopicPartition]offsetstore.Offset{tp: {Offset: 500, LeaderEpoch: -1, Metadata: "new"}}); err != nil {
				t.Fatalf("CommitFenced with the new fence: %v", err)
			}
			close(h.release)
			err := <-done
			if tt.fenced {
				var se *offsetstore.Error
				if !errors.Is(err, offsetstore.ErrFenced) || !errors.As(err, &se) || se.Group != "g" {
					t.Fatalf("the delayed %s = %v; want ErrFenced in an *offsetstore.Error", tt.name, err)
				}
			} else if err != nil {
				t.Fatalf("the delayed %s = %v", tt.name, err)
			}
			got, ok, err := offsetstore.FetchOne(ctx, s, "g", tp)
			if err != nil || !ok || got.Offset != tt.want.Offset || got.Metadata != tt.want.Metadata {
				t.Fatalf("t/0 after the delayed write = %+v, %v, %v; want %+v", got, ok, err, tt.want)
			}
			st, err := s.GroupState(ctx, "g")
			want := state
			want.Fence = 2
			if err != nil || st.Fence != want.Fence || st.Generation != want.Generation || !slices.Equal(st.Subscribed, want.Subscribed) {
				t.Fatalf("GroupState = %+v, %v; want %+v", st, err, want)
			}
		})
	}
}

// TestFenceLayout: group fences and states live beside the offsets, in Root.offsetkit, in the
// documented format, and a reader of the offsets layout (ListGroups, FetchAll, a listing of
// Root) sees only offsets.
func TestFenceLayout(t *testing.T) {
	ctx := testCtx(t)
	client := filerClient(t)
	s := newStore(t, filerstore.Options{})
	tp := offsetstore.TopicPartition{Topic: "orders", Partition: 3}
	at := time.UnixMilli(1760000000123).UTC()
	if err := s.SaveGroupState(ctx, "billing", 0, offsetstore.GroupState{
		Fence: 3, ProtocolType: "consumer", Protocol: "range", Generation: 5, Empty: true, StateTime: at, Subscribed: []string{"orders", "payments"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveGroupState(ctx, "state-only", 0, offsetstore.GroupState{Fence: 1, ProtocolType: "consumer", Subscribed: []string{}}); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitFenced(ctx, "billing", 3, map[offsetstore.TopicPartition]offsetstore.Offset{tp: {Offset: 42, LeaderEpoch: -1}}); err != nil {
		t.Fatal(err)
	}

	groups, err := s.ListGroups(ctx)
	if err != nil || !slices.Equal(groups, []string{"billing"}) {
		t.Fatalf("ListGroups = %q, %v; want only the group with offsets", groups, err)
	}
	all, err := s.FetchAll(ctx, "billing")
	if err != nil || len(all) != 1 || all[tp].Offset != 42 {
		t.Fatalf("FetchAll = %v, %v", all, err)
	}
	var names []string
	stream, err := client.ListEntries(ctx, &filer_pb.ListEntriesRequest{Directory: s.Root()})
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			break
		}
		names = append(names, resp.Entry.Name)
	}
	if !slices.Equal(names, []string{"billing"}) {
		t.Fatalf("Root lists %q; want only the group directory", names)
	}

	resp, err := client.LookupDirectoryEntry(ctx, &filer_pb.LookupDirectoryEntryRequest{Directory: s.Root() + ".offsetkit/groups", Name: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	e := resp.Entry
	if got, want := string(e.Content), `{"type":"group_fence","fence":3}`; got != want {
		t.Fatalf("content %s, want %s", got, want)
	}
	if got, want := string(e.Extended["offsetkit-fenced"]), "1"; got != want {
		t.Fatalf("offsetkit-fenced = %q, want %q", got, want)
	}
	wantState := `{"group":"billing","protocol_type":"consumer","protocol":"range","generation":5,"empty":true,"state_time":1760000000123,"subscribed":["orders","payments"]}`
	if got := string(e.Extended["offsetkit-state"]); got != wantState {
		t.Fatalf("offsetkit-state\n got %s\nwant %s", got, wantState)
	}
	var doc map[string]any
	if err := json.Unmarshal(e.Extended["offsetkit-state"], &doc); err != nil {
		t.Fatal(err)
	}

	// A group whose state is saved at fence 0 has an entry without the fenced flag, and fence
	// 0 still holds for it.
	if err := s.SaveGroupState(ctx, "zero", 0, offsetstore.GroupState{ProtocolType: "consumer"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitFenced(ctx, "zero", 0, map[offsetstore.TopicPartition]offsetstore.Offset{tp: {Offset: 1}}); err != nil {
		t.Fatalf("CommitFenced at fence 0 of a group saved at fence 0: %v", err)
	}
	if err := s.CommitFenced(ctx, "zero", 1, map[offsetstore.TopicPartition]offsetstore.Offset{tp: {Offset: 2}}); !errors.Is(err, offsetstore.ErrFenced) {
		t.Fatalf("CommitFenced at fence 1 of a group at fence 0 = %v; want ErrFenced", err)
	}
}

// TestFenceUnsupported: on a filer without ObjectTransaction, and on a store whose Root is
// "/", every Fencer method fails with an error matching errors.ErrUnsupported.
func TestFenceUnsupported(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) *filerstore.Store
	}{
		{"no ObjectTransaction", func(t *testing.T) *filerstore.Store {
			return newStoreOn(t, &wrapClient{SeaweedFilerClient: filerClient(t), unimplemented: []string{"ObjectTransaction"}}, filerstore.Options{})
		}},
		{"Root /", func(t *testing.T) *filerstore.Store {
			return newStoreOn(t, filerClient(t), filerstore.Options{Root: "/"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			s := tc.open(t)
			m := map[offsetstore.TopicPartition]offsetstore.Offset{{Topic: "t"}: {Offset: 1}}
			calls := map[string]func() error{
				"GroupState":          func() error { _, err := s.GroupState(ctx, "g"); return err },
				"GroupStates":         func() error { _, err := s.GroupStates(ctx); return err },
				"SaveGroupState":      func() error { return s.SaveGroupState(ctx, "g", 0, offsetstore.GroupState{Fence: 1}) },
				"CommitFenced":        func() error { return s.CommitFenced(ctx, "g", 0, m) },
				"DeleteFenced":        func() error { return s.DeleteFenced(ctx, "g", 0, []offsetstore.TopicPartition{{Topic: "t"}}) },
				"DeleteGroupFenced":   func() error { return s.DeleteGroupFenced(ctx, "g", 0) },
				"ExpireOffsetsFenced": func() error { _, err := s.ExpireOffsetsFenced(ctx, "g", 0, nil); return err },
			}
			for op, call := range calls {
				err := call()
				var se *offsetstore.Error
				if !errors.Is(err, errors.ErrUnsupported) || !errors.As(err, &se) || se.Op != op {
					t.Errorf("%s = %v; want ErrUnsupported in an *offsetstore.Error", op, err)
				}
			}
			if tc.name == "Root /" {
				return
			}
			if all, err := s.FetchAll(ctx, "g"); err != nil || len(all) != 0 {
				t.Fatalf("FetchAll after the refused calls = %v, %v; want nothing written", all, err)
			}
		})
	}
}

// TestFenceUnreadableEntry: a group entry the store cannot read is an error, never a zero
// state.
func TestFenceUnreadableEntry(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, filerstore.Options{})
	if err := s.SaveGroupState(ctx, "g", 0, offsetstore.GroupState{Fence: 1, Generation: 1}); err != nil {
		t.Fatal(err)
	}
	bad := &filer_pb.Entry{Name: "g", Content: []byte(`{"type":"group_fence","fence":7}`), Attributes: &filer_pb.FuseAttributes{FileMode: 0o644}}
	if err := filer_pb.CreateEntry(ctx, filerClient(t), &filer_pb.CreateEntryRequest{Directory: s.Root() + ".offsetkit/groups", Entry: bad}); err != nil {
		t.Fatal(err)
	}
	if st, err := s.GroupState(ctx, "g"); err == nil {
		t.Fatalf("GroupState of an entry without MD5 or state = %+v; want an error", st)
	}
	if all, err := s.GroupStates(ctx); err == nil {
		t.Fatalf("GroupStates with an unreadable entry = %v; want an error", all)
	}
	if err := s.CommitFenced(ctx, "g", 7, map[offsetstore.TopicPartition]offsetstore.Offset{{Topic: "t"}: {Offset: 1}}); !errors.Is(err, offsetstore.ErrFenced) {
		t.Fatalf("CommitFenced against an entry without the fence's ETag = %v; want ErrFenced", err)
	}
}
