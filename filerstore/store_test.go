package filerstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var hostileNames = []string{
	"", ".", "..", "/", "a/b", "a//b", "a", "b", "%2F", "%", "%~", "%name", "../..", "../x",
	"offset", "0", "consumer_offsets", "日本語", "a\x00b", "\xff\xfe",
	strings.Repeat("x", 255), strings.Repeat("x", 256), strings.Repeat("x", 1000),
	strings.Repeat("x", 999) + "y", strings.Repeat("/", 1000),
}

// TestHostileNamesStayInside commits under every hostile group and topic name into a root
// nested in a parent directory, then checks that each group reads back exactly its own
// offsets under the original names, that ListGroups returns the original names, and that
// nothing was written outside the root.
func TestHostileNamesStayInside(t *testing.T) {
	ctx := testCtx(t)
	parent := newRoot(t)
	s := newStore(t, filerstore.Options{Root: parent + "/inner"})
	want := map[string]map[offsetstore.TopicPartition]offsetstore.Offset{}
	for gi, g := range hostileNames {
		batch := map[offsetstore.TopicPartition]offsetstore.Offset{}
		for ti, topic := range hostileNames {
			batch[offsetstore.TopicPartition{Topic: topic, Partition: int32(ti % 3)}] = offsetstore.Offset{Offset: int64(gi*1000 + ti), LeaderEpoch: -1, Metadata: g}
		}
		if err := s.Commit(ctx, g, batch); err != nil {
			t.Fatalf("Commit(%.20q): %v", g, err)
		}
		want[g] = batch
	}
	for _, g := range hostileNames {
		got, err := s.FetchAll(ctx, g)
		if err != nil {
			t.Fatalf("FetchAll(%.20q): %v", g, err)
		}
		assertOffsets(t, fmt.Sprintf("FetchAll(%.20q)", g), got, want[g])
		got, err = s.Fetch(ctx, g, offsetstore.SortedPartitions(want[g]))
		if err != nil {
			t.Fatalf("Fetch(%.20q): %v", g, err)
		}
		assertOffsets(t, fmt.Sprintf("Fetch(%.20q)", g), got, want[g])
	}
	groups, err := s.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(groups)
	wantGroups := slices.Clone(hostileNames)
	slices.Sort(wantGroups)
	if !slices.Equal(groups, wantGroups) {
		t.Fatalf("ListGroups = %q\nwant %q", groups, wantGroups)
	}

	// Walk the parent: every entry must be the root itself or below it.
	stream, err := filerClient(t).TraverseBfsMetadata(ctx, &filer_pb.TraverseBfsMetadataRequest{Directory: parent})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		resp, err := stream.Recv()
		if err != nil {
			break
		}
		n++
		full := resp.Directory + "/" + resp.Entry.Name
		if full != parent && full != parent+"/inner" && !strings.HasPrefix(full, parent+"/inner/") {
			t.Errorf("entry outside the root: %q", full)
		}
	}
	if n < len(hostileNames)*len(hostileNames) {
		t.Fatalf("walked only %d entries", n)
	}

	// Deleting one group leaves every other one whole.
	if err := s.DeleteGroup(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"a/b", "a//b", "b", ""} {
		got, err := s.FetchAll(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		assertOffsets(t, fmt.Sprintf("FetchAll(%q) after DeleteGroup(a)", g), got, want[g])
	}
}

// TestLegacyFiler runs against a filer without StreamMutateEntry, LookupDirectoryEntries and
// TraverseBfsMetadata: the store falls back to parallel unary calls and paginated listings,
// and reads a group larger than the filer's listing limit (1,000) in both directions (more
// than 1,000 topics, and a topic with more than 1,000 partitions).
func TestLegacyFiler(t *testing.T) {
	ctx := testCtx(t)
	c := &wrapClient{SeaweedFilerClient: filerClient(t), unimplemented: newerRPCs}
	s := newStoreOn(t, c, filerstore.Options{})
	batch := map[offsetstore.TopicPartition]offsetstore.Offset{}
	for p := range 1100 {
		batch[offsetstore.TopicPartition{Topic: "big", Partition: int32(p)}] = offsetstore.Offset{Offset: int64(p), LeaderEpoch: 1}
	}
	for i := range 1001 {
		batch[offsetstore.TopicPartition{Topic: fmt.Sprintf("t%04d", i), Partition: 0}] = offsetstore.Offset{Offset: int64(i), LeaderEpoch: 2}
	}
	batch[offsetstore.TopicPartition{Topic: strings.Repeat("L", 400), Partition: 3}] = offsetstore.Offset{Offset: 7, LeaderEpoch: 3}
	if err := s.Commit(ctx, "g", batch); err != nil {
		t.Fatal(err)
	}
	c.reset()
	got, err := s.FetchAll(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	assertOffsets(t, "FetchAll", got, batch)
	if c.count("ListEntries") < 3 || c.count("LookupDirectoryEntry") < len(batch) {
		t.Fatalf("FetchAll did not use the listing fallback: %v", c.calls)
	}
	// Once a call has learnt that the filer lacks an RPC, later calls do not ask again.
	c.reset()
	if _, err := s.FetchAll(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if c.count("TraverseBfsMetadata") > 0 || c.count("LookupDirectoryEntries") > 0 || c.count("StreamMutateEntry") > 0 || c.count("ObjectTransaction") > 0 {
		t.Fatalf("newer RPCs retried after Unimplemented: %v", c.calls)
	}
	got, err = s.Fetch(ctx, "g", offsetstore.SortedPartitions(batch)[:50])
	if err != nil || len(got) != 50 {
		t.Fatalf("Fetch = %d offsets, %v", len(got), err)
	}
	if err := s.Delete(ctx, "g", offsetstore.SortedPartitions(batch)[:10]); err != nil {
		t.Fatal(err)
	}
	got, err = s.FetchAll(ctx, "g")
	if err != nil || len(got) != len(batch)-10 {
		t.Fatalf("FetchAll after Delete = %d offsets, %v", len(got), err)
	}

	// A store on a current filer reads the same data, with one traversal.
	c2 := &wrapClient{SeaweedFilerClient: filerClient(t)}
	s2 := newStoreOn(t, c2, filerstore.Options{Root: s.Root()})
	got2, err := s2.FetchAll(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	assertOffsets(t, "FetchAll (current filer)", got2, got)
	if c2.count("TraverseBfsMetadata") != 1 || len(c2.calls) != 1 {
		t.Fatalf("FetchAll RPCs = %v, want one TraverseBfsMetadata", c2.calls)
	}
}

// TestRoundTrips checks the RPC count of each operation on a current filer.
func TestRoundTrips(t *testing.T) {
	ctx := testCtx(t)
	c := &wrapClient{SeaweedFilerClient: filerClient(t)}
	s := newStoreOn(t, c, filerstore.Options{})
	batch := map[offsetstore.TopicPartition]offsetstore.Offset{}
	for p := range 64 {
		batch[offsetstore.TopicPartition{Topic: fmt.Sprintf("t%d", p%4), Partition: int32(p)}] = offsetstore.Offset{Offset: 1}
	}
	tests := []struct {
		name string
		do   func() error
		want map[string]int
	}{
		{"Commit 1", func() error {
			return offsetstore.CommitOne(ctx, s, "g", offsetstore.TopicPartition{Topic: "t", Partition: 0}, offsetstore.Offset{Offset: 1})
		}, map[string]int{"ObjectTransaction": 1}},
		{"Commit 64", func() error { return s.Commit(ctx, "g", batch) }, map[string]int{"ObjectTransaction": 1}},
		{"Fetch 1", func() error {
			_, err := s.Fetch(ctx, "g", []offsetstore.TopicPartition{{Topic: "t", Partition: 0}})
			return err
		}, map[string]int{"LookupDirectoryEntry": 1}},
		{"Fetch 64", func() error { _, err := s.Fetch(ctx, "g", offsetstore.SortedPartitions(batch)); return err }, map[string]int{"LookupDirectoryEntries": 1}},
		{"FetchAll", func() error { _, err := s.FetchAll(ctx, "g"); return err }, map[string]int{"TraverseBfsMetadata": 1}},
		{"FetchAll unknown group", func() error { _, err := s.FetchAll(ctx, "nope"); return err }, map[string]int{"TraverseBfsMetadata": 1}},
		// Delete and DeleteGroup also list the group's pending transactional offsets.
		{"Delete 64", func() error { return s.Delete(ctx, "g", offsetstore.SortedPartitions(batch)) }, map[string]int{"ListEntries": 1, "ObjectTransaction": 1}},
		{"DeleteGroup", func() error { return s.DeleteGroup(ctx, "g") }, map[string]int{"ListEntries": 1, "LookupDirectoryEntry": 1, "DeleteEntry": 1}},
	}
	for _, tt := range tests {
		c.reset()
		if err := tt.do(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		c.mu.Lock()
		got := c.calls
		c.mu.Unlock()
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: RPCs %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestFailingFiler: whatever RPC fails, every method returns an *offsetstore.Error naming
// the operation (never an absent offset, never success), and the error matches the cause.
func TestFailingFiler(t *testing.T) {
	ctx := testCtx(t)
	boom := status.Error(codes.Unavailable, "injected failure")
	setup := newStore(t, filerstore.Options{})
	tp := offsetstore.TopicPartition{Topic: "t", Partition: 0}
	tp2 := offsetstore.TopicPartition{Topic: "t", Partition: 1}
	baseline := map[offsetstore.TopicPartition]offsetstore.Offset{tp: {Offset: 1, LeaderEpoch: -1}, tp2: {Offset: 2, LeaderEpoch: -1}}
	for _, tc := range []struct {
		method        string
		unimplemented []string
	}{
		{"ObjectTransaction", nil},
		{"StreamMutateEntry", []string{"ObjectTransaction"}},
		{"CreateEntry", newerRPCs},
		{"DeleteEntry", newerRPCs},
		{"LookupDirectoryEntry", nil},
		{"LookupDirectoryEntries", nil},
		{"TraverseBfsMetadata", nil},
		{"ListEntries", nil},
		{"ListEntries", newerRPCs},
		{"DeleteEntry", nil},
	} {
		method := tc.method
		t.Run(fmt.Sprintf("%s/unimplemented=%d", method, len(tc.unimplemented)), func(t *testing.T) {
			c := &wrapClient{SeaweedFilerClient: filerClient(t), unimplemented: tc.unimplemented, fail: func(m string) error {
				if m == method {
					return boom
				}
				return nil
			}}
			s := newStoreOn(t, c, filerstore.Options{Root: setup.Root()})
			ops := map[string]func() error{
				"Commit": func() error { return offsetstore.CommitOne(ctx, s, "g", tp, offsetstore.Offset{Offset: 9}) },
				"CommitBatch": func() error {
					return s.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{tp: {Offset: 9}, tp2: {Offset: 9}})
				},
				"Fetch": func() error {
					m, err := s.Fetch(ctx, "g", []offsetstore.TopicPartition{tp})
					return nilMapOrErr(m, err)
				},
				"FetchBatch": func() error {
					m, err := s.Fetch(ctx, "g", []offsetstore.TopicPartition{tp, tp2})
					return nilMapOrErr(m, err)
				},
				"FetchAll": func() error {
					m, err := s.FetchAll(ctx, "g")
					return nilMapOrErr(m, err)
				},
				"ListGroups": func() error {
					g, err := s.ListGroups(ctx)
					if err != nil && g != nil {
						return errors.New("result with error")
					}
					return err
				},
				"Delete":      func() error { return s.Delete(ctx, "g", []offsetstore.TopicPartition{tp, tp2}) },
				"DeleteGroup": func() error { return s.DeleteGroup(ctx, "g") },
			}
			failed := 0
			for name, op := range ops {
				if err := setup.Commit(ctx, "g", baseline); err != nil {
					t.Fatal(err)
				}
				c.reset()
				err := op()
				if c.count(method) == 0 {
					if err != nil {
						t.Errorf("%s failed without calling %s: %v", name, method, err)
					}
					continue
				}
				failed++
				var se *offsetstore.Error
				if !errors.As(err, &se) || !strings.Contains(err.Error(), "injected failure") {
					t.Errorf("%s with failing %s = %v, want an *offsetstore.Error carrying the failure", name, method, err)
				}
				// A failed call changed nothing (the failure was injected before any write).
				got, err := setup.FetchAll(ctx, "g")
				if err != nil {
					t.Fatal(err)
				}
				assertOffsets(t, name+" after failing "+method, got, baseline)
			}
			if failed == 0 {
				t.Fatalf("no operation calls %s", method)
			}
		})
	}
}
func nilMapOrErr(m map[offsetstore.TopicPartition]offsetstore.Offset, err error) error {
	if err != nil && m != nil {
		return errors.New("result with error")
	}
	return err
}

// TestCloseAndContext: methods after Close return ErrClosed; Close is idempotent; a done
// context is reported as such and changes nothing.
func TestCloseAndContext(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, filerstore.Options{})
	tp := offsetstore.TopicPartition{Topic: "t", Partition: 0}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := offsetstore.CommitOne(cancelled, s, "g", tp, offsetstore.Offset{Offset: 1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit with cancelled context = %v", err)
	}
	if _, ok, err := offsetstore.FetchOne(ctx, s, "g", tp); ok || err != nil {
		t.Fatalf("cancelled Commit stored something: %v %v", ok, err)
	}
	expired, cancel2 := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel2()
	if _, err := s.FetchAll(expired, "g"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("FetchAll with expired context = %v", err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	checks := map[string]error{
		"Commit":      offsetstore.CommitOne(ctx, s, "g", tp, offsetstore.Offset{}),
		"Delete":      s.Delete(ctx, "g", []offsetstore.TopicPartition{tp}),
		"DeleteGroup": s.DeleteGroup(ctx, "g"),
	}
	_, checks["Fetch"] = s.Fetch(ctx, "g", []offsetstore.TopicPartition{tp})
	_, checks["FetchAll"] = s.FetchAll(ctx, "g")
	_, checks["ListGroups"] = s.ListGroups(ctx)
	for op, err := range checks {
		if !errors.Is(err, offsetstore.ErrClosed) {
			t.Errorf("%s after Close = %v", op, err)
		}
	}
}

// TestInvalid: a negative partition is ErrInvalid, as are a relative root and a nil client.
func TestInvalid(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, filerstore.Options{})
	bad := offsetstore.TopicPartition{Topic: "t", Partition: -1}
	if err := offsetstore.CommitOne(ctx, s, "g", bad, offsetstore.Offset{}); !errors.Is(err, offsetstore.ErrInvalid) {
		t.Errorf("Commit = %v", err)
	}
	if _, err := s.Fetch(ctx, "g", []offsetstore.TopicPartition{bad}); !errors.Is(err, offsetstore.ErrInvalid) {
		t.Errorf("Fetch = %v", err)
	}
	if err := s.Delete(ctx, "g", []offsetstore.TopicPartition{bad}); !errors.Is(err, offsetstore.ErrInvalid) {
		t.Errorf("Delete = %v", err)
	}
	for _, root := range []string{"relative", "/a/../b", "/a/", "//a"} {
		if _, err := filerstore.New(filerClient(t), filerstore.Options{Root: root}); !errors.Is(err, offsetstore.ErrInvalid) {
			t.Errorf("New(Root %q) = %v", root, err)
		}
	}
	if _, err := filerstore.New(nil, filerstore.Options{}); !errors.Is(err, offsetstore.ErrInvalid) {
		t.Errorf("New(nil) = %v", err)
	}
}

// TestNewErrorMessages checks the rendered errors of New, which need no filer: the package
// comes first, the offsetstore sentinel last.
func TestNewErrorMessages(t *testing.T) {
	_, err := filerstore.New(nil, filerstore.Options{})
	if got, want := fmt.Sprint(err), "filerstore: nil client: invalid argument"; got != want {
		t.Errorf("New(nil) = %q, want %q", got, want)
	}
	var client filer_pb.SeaweedFilerClient = filer_pb.NewSeaweedFilerClient(nil)
	_, err = filerstore.New(client, filerstore.Options{Root: "relative"})
	if got, want := fmt.Sprint(err), `filerstore: root "relative" is not a clean absolute path: invalid argument`; got != want {
		t.Errorf("New(Root relative) = %q, want %q", got, want)
	}
}

// TestMetadataBytes: metadata that is not valid UTF-8 (which a JSON string cannot carry)
// round-trips byte for byte.
func TestMetadataBytes(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, filerstore.Options{})
	tp := offsetstore.TopicPartition{Topic: "t", Partition: 0}
	for _, md := range []string{"\xff\x00\xfe", strings.Repeat("é", 2048), "\x00", "\"\\"} {
		if err := offsetstore.CommitOne(ctx, s, "g", tp, offsetstore.Offset{Offset: 1, Metadata: md}); err != nil {
			t.Fatal(err)
		}
		o, ok, err := offsetstore.FetchOne(ctx, s, "g", tp)
		if err != nil || !ok || o.Metadata != md {
			t.Fatalf("metadata %q came back %q, %v, %v", md, o.Metadata, ok, err)
		}
	}
}

// TestTwoStores: two stores on one filer (two gateways) see each other's writes and deletes
// at once, since neither caches.
func TestTwoStores(t *testing.T) {
	ctx := testCtx(t)
	a := newStore(t, filerstore.Options{})
	b := newStore(t, filerstore.Options{Root: a.Root()})
	tp := offsetstore.TopicPartition{Topic: "t", Partition: 0}
	for i := range int64(5) {
		w, r := a, b
		if i%2 == 1 {
			w, r = b, a
		}
		if err := offsetstore.CommitOne(ctx, w, "g", tp, offsetstore.Offset{Offset: i}); err != nil {
			t.Fatal(err)
		}
		o, ok, err := offsetstore.FetchOne(ctx, r, "g", tp)
		if err != nil || !ok || o.Offset != i {
			t.Fatalf("round %d: other store reads %v %v %v", i, o, ok, err)
		}
	}
	if err := a.DeleteGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if m, err := b.FetchAll(ctx, "g"); err != nil || len(m) != 0 {
		t.Fatalf("after DeleteGroup on the other store: %v %v", m, err)
	}
}

// TestDial: Dial reaches a filer and owns the connection; a wrong address fails within the
// context's deadline.
func TestDial(t *testing.T) {
	ctx := testCtx(t)
	filerClient(t)
	s, err := filerstore.Dial(ctx, shared.srv.Addr(), filerstore.Options{Root: newRoot(t)})
	if err != nil {
		t.Fatal(err)
	}
	tp := offsetstore.TopicPartition{Topic: "t", Partition: 0}
	if err := offsetstore.CommitOne(ctx, s, "g", tp, offsetstore.Offset{Offset: 3}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := offsetstore.FetchOne(ctx, s, "g", tp); !errors.Is(err, offsetstore.ErrClosed) {
		t.Fatalf("Fetch after Close = %v", err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	if s, err := filerstore.Dial(short, addr, filerstore.Options{}); err == nil {
		s.Close()
		t.Fatal("Dial of a closed port succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Dial of a closed port took %v", d)
	}
}

// TestFilerRejectsWrite: a write the filer refuses for one entry (a directory is in the way) is
// an error on every write path: single CreateEntry, ObjectTransaction, StreamMutateEntry and
// parallel unary calls; the other partitions of the batch stay readable.
func TestFilerRejectsWrite(t *testing.T) {
	for _, tc := range []struct {
		name          string
		unimplemented []string
		n             int
	}{
		{"single", nil, 1},
		{"transaction", nil, 8},
		{"stream", []string{"ObjectTransaction"}, 8},
		{"unary", newerRPCs, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := &wrapClient{SeaweedFilerClient: filerClient(t), unimplemented: tc.unimplemented}
			s := newStoreOn(t, c, filerstore.Options{})
			// A directory where the offset file of blocked/0 would go.
			if err := filer_pb.CreateEntry(ctx, filerClient(t), &filer_pb.CreateEntryRequest{
				Directory: s.Root() + "/g/blocked/0",
				Entry:     &filer_pb.Entry{Name: "offset", IsDirectory: true, Attributes: &filer_pb.FuseAttributes{FileMode: 0o755 | 1<<31}},
			}); err != nil {
				t.Fatal(err)
			}
			batch := map[offsetstore.TopicPartition]offsetstore.Offset{{Topic: "blocked", Partition: 0}: {Offset: 1}}
			for p := 1; p < tc.n; p++ {
				batch[offsetstore.TopicPartition{Topic: "ok", Partition: int32(p)}] = offsetstore.Offset{Offset: 1}
			}
			err := s.Commit(ctx, "g", batch)
			var se *offsetstore.Error
			if !errors.As(err, &se) || se.Op != "Commit" {
				t.Fatalf("Commit = %v, want an *offsetstore.Error", err)
			}
			// What is in the way is not an offset: reading it is an error, not "absent".
			if m, err := s.Fetch(ctx, "g", []offsetstore.TopicPartition{{Topic: "blocked", Partition: 0}}); err == nil {
				t.Fatalf("Fetch of the blocked partition = %v, want an error", m)
			}
		})
	}
}

// TestWritePaths: commits and deletes of many partitions give the same results on every
// write path (ObjectTransaction, StreamMutateEntry, parallel unary calls).
func TestWritePaths(t *testing.T) {
	for _, tc := range []struct {
		name          string
		unimplemented []string
		rpc           string
	}{
		{"transaction", nil, "ObjectTransaction"},
		{"stream", []string{"ObjectTransaction"}, "StreamMutateEntry"},
		{"unary", newerRPCs, "CreateEntry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := &wrapClient{SeaweedFilerClient: filerClient(t), unimplemented: tc.unimplemented}
			s := newStoreOn(t, c, filerstore.Options{})
			batch := map[offsetstore.TopicPartition]offsetstore.Offset{}
			for p := range 100 {
				batch[offsetstore.TopicPartition{Topic: fmt.Sprintf("t%d", p%3), Partition: int32(p)}] = offsetstore.Offset{Offset: int64(p), LeaderEpoch: int32(p % 7), Metadata: "m"}
			}
			for round := range 2 {
				for tp, o := range batch {
					o.Offset += int64(round)
					batch[tp] = o
				}
				if err := s.Commit(ctx, "g", batch); err != nil {
					t.Fatal(err)
				}
				got, err := s.FetchAll(ctx, "g")
				if err != nil {
					t.Fatal(err)
				}
				assertOffsets(t, fmt.Sprintf("round %d", round), got, batch)
			}
			if c.count(tc.rpc) == 0 {
				t.Fatalf("%s not used: %v", tc.rpc, c.calls)
			}
			keys := offsetstore.SortedPartitions(batch)
			if err := s.Delete(ctx, "g", keys[:50]); err != nil {
				t.Fatal(err)
			}
			for _, tp := range keys[:50] {
				delete(batch, tp)
			}
			got, err := s.FetchAll(ctx, "g")
			if err != nil {
				t.Fatal(err)
			}
			assertOffsets(t, "after Delete", got, batch)
		})
	}
}

// TestListGroupsPaginates: ListGroups returns every group of a root holding more groups
// than the filer lists at once (1,000), under their original names.
func TestListGroupsPaginates(t *testing.T) {
	ctx := testCtx(t)
	s := newStore(t, filerstore.Options{})
	const n = 1050
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("group/%04d", i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for _, g := range want {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs <- offsetstore.CommitOne(ctx, s, g, offsetstore.TopicPartition{Topic: "t", Partition: 0}, offsetstore.Offset{Offset: 1})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("ListGroups returned %d groups, want %d", len(got), n)
	}
}

// TestExpireOffsetsRace: an offset committed between ExpireOffsets' read and its delete is
// kept (the delete is conditioned on the ETag read), while unchanged offsets, gateway-written
// ones (no MD5) included, are deleted and returned.
func TestExpireOffsetsRace(t *testing.T) {
	ctx := testCtx(t)
	other := newStore(t, filerstore.Options{})
	racer := offsetstore.TopicPartition{Topic: "t", Partition: 0}
	calm := offsetstore.TopicPartition{Topic: "t", Partition: 1}
	var raced bool
	c := &wrapClient{SeaweedFilerClient: filerClient(t), fail: func(method string) error {
		if method == "ObjectTransaction" && !raced {
			raced = true
			return offsetstore.CommitOne(ctx, other, "g", racer, offsetstore.Offset{Offset: 99, Metadata: "new"})
		}
		return nil
	}}
	s := newStoreOn(t, c, filerstore.Options{Root: other.Root()})
	if err := other.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{racer: {Offset: 1, Metadata: "old"}, calm: {Offset: 2, Metadata: "old"}}); err != nil {
		t.Fatal(err)
	}
	gatewayCommit(t, other.Root(), "g", "legacy", 0, 3, "old", time.UnixMilli(1760000000000))
	raced = false
	got, err := s.ExpireOffsets(ctx, "g", func(_ offsetstore.TopicPartition, o offsetstore.Offset) bool { return o.Metadata == "old" })
	if err != nil {
		t.Fatal(err)
	}
	if !raced {
		t.Fatal("the racing commit did not run")
	}
	legacy := offsetstore.TopicPartition{Topic: "legacy", Partition: 0}
	if len(got) != 2 || got[calm].Offset != 2 || got[legacy].Offset != 3 {
		t.Fatalf("ExpireOffsets returned %v, want %v and %v", got, calm, legacy)
	}
	left, err := other.FetchAll(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[racer].Offset != 99 {
		t.Fatalf("after ExpireOffsets: %v, want only the racing commit", left)
	}
}
