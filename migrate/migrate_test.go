package migrate_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/migrate"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/offsetstore/storetest"
)

var (
	ctx = context.Background()
	p0  = offsetstore.TopicPartition{Topic: "t", Partition: 0}
	p1  = offsetstore.TopicPartition{Topic: "t", Partition: 1}
	p2  = offsetstore.TopicPartition{Topic: "t", Partition: 2}
)

func off(n int64) offsetstore.Offset { return offsetstore.Offset{Offset: n, LeaderEpoch: -1} }

// plain hides the optional capabilities of a store.
type plain struct{ offsetstore.Store }

// failing fails every call with err once armed.
type failing struct {
	offsetstore.Store
	mu  sync.Mutex
	err error
}

func (f *failing) arm(err error) { f.mu.Lock(); f.err = err; f.mu.Unlock() }
func (f *failing) fail() error   { f.mu.Lock(); defer f.mu.Unlock(); return f.err }
func (f *failing) Commit(ctx context.Context, g string, o map[offsetstore.TopicPartition]offsetstore.Offset) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Store.Commit(ctx, g, o)
}
func (f *failing) Fetch(ctx context.Context, g string, p []offsetstore.TopicPartition) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Store.Fetch(ctx, g, p)
}
func (f *failing) FetchAll(ctx context.Context, g string) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Store.FetchAll(ctx, g)
}

func setup(t *testing.T, hidePrimaryCaps bool) (primary, legacy *memstore.Store, s *migrate.Store) {
	t.Helper()
	primary, legacy = memstore.New(memstore.Options{}), memstore.New(memstore.Options{})
	var p offsetstore.Store = primary
	if hidePrimaryCaps {
		p = plain{primary}
	}
	s = migrate.New(p, legacy, migrate.Options{})
	t.Cleanup(func() { s.Close() })
	if err := legacy.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{p0: off(10), p1: off(11)}); err != nil {
		t.Fatal(err)
	}
	if err := legacy.Commit(ctx, "legacy-only", map[offsetstore.TopicPartition]offsetstore.Offset{p0: off(1)}); err != nil {
		t.Fatal(err)
	}
	return primary, legacy, s
}

func forBoth(t *testing.T, f func(t *testing.T, hide bool)) {
	t.Run("primary-inserter", func(t *testing.T) { f(t, false) })
	t.Run("primary-plain", func(t *testing.T) { f(t, true) })
}

func TestFetchFallsBackAndCopiesUp(t *testing.T) {
	forBoth(t, func(t *testing.T, hide bool) {
		primary, _, s := setup(t, hide)
		if err := s.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{p1: off(99)}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Fetch(ctx, "g", []offsetstore.TopicPartition{p0, p1, p2})
		if err != nil {
			t.Fatal(err)
		}
		if got[p0].Offset != 10 || got[p1].Offset != 99 || len(got) != 2 {
			t.Fatalf("got %v: want legacy p0=10, primary p1=99 (primary wins), p2 absent", got)
		}
		inPrimary, _ := primary.FetchAll(ctx, "g")
		if inPrimary[p0].Offset != 10 || inPrimary[p1].Offset != 99 {
			t.Fatalf("primary holds %v after the read, want p0 copied up and p1 untouched", inPrimary)
		}
	})
}

// FetchInto follows Fetch's rules, whether the primary has its own FetchInto (primary-inserter)
// or not (primary-plain).
func TestFetchIntoFallsBackAndCopiesUp(t *testing.T) {
	forBoth(t, func(t *testing.T, hide bool) {
		primary, _, s := setup(t, hide)
		if err := s.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{p1: off(99)}); err != nil {
			t.Fatal(err)
		}
		req := []offsetstore.TopicPartition{p0, p1, p2, p0}
		dst, found := make([]offsetstore.Offset, len(req)), []bool{true, true, true, true}
		if err := s.FetchInto(ctx, "g", req, dst, found); err != nil {
			t.Fatal(err)
		}
		want := []offsetstore.Offset{off(10), off(99), {}, off(10)}
		for i := range req {
			if dst[i] != want[i] || found[i] != (i != 2) {
				t.Errorf("index %d: got %+v found %v; want %+v found %v", i, dst[i], found[i], want[i], i != 2)
			}
		}
		inPrimary, _ := primary.FetchAll(ctx, "g")
		if inPrimary[p0].Offset != 10 || inPrimary[p1].Offset != 99 || len(inPrimary) != 2 {
			t.Fatalf("primary holds %v after the read, want p0 copied up and p1 untouched", inPrimary)
		}
	})
}

// CommitSlice goes to the primary only, whether it has its own CommitSlice or not, and wins
// over the legacy store.
func TestCommitSliceGoesToPrimary(t *testing.T) {
	forBoth(t, func(t *testing.T, hide bool) {
		primary, legacy, s := setup(t, hide)
		err := s.CommitSlice(ctx, "g", []offsetstore.TopicPartition{p0, p2, p0}, []offsetstore.Offset{off(1), off(2), off(3)})
		if err != nil {
			t.Fatal(err)
		}
		inPrimary, _ := primary.FetchAll(ctx, "g")
		if len(inPrimary) != 2 || inPrimary[p0].Offset != 3 || inPrimary[p2].Offset != 2 {
			t.Fatalf("primary holds %v; want p0=3 (the later of two) and p2=2", inPrimary)
		}
		inLegacy, _ := legacy.FetchAll(ctx, "g")
		if len(inLegacy) != 2 || inLegacy[p0].Offset != 10 {
			t.Fatalf("legacy holds %v; want it untouched", inLegacy)
		}
		got, err := s.Fetch(ctx, "g", []offsetstore.TopicPartition{p0, p1})
		if err != nil || got[p0].Offset != 3 || got[p1].Offset != 11 {
			t.Fatalf("Fetch = %v, %v; want p0=3 from the primary, p1=11 from the legacy store", got, err)
		}
	})
}

func TestFetchAllMergesAndCopies(t *testing.T) {
	forBoth(t, func(t *testing.T, hide bool) {
		primary, _, s := setup(t, hide)
		_ = s.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{p0: off(50), p2: off(52)})
		got, err := s.FetchAll(ctx, "g")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[p0].Offset != 50 || got[p1].Offset != 11 || got[p2].Offset != 52 {
			t.Fatalf("FetchAll = %v", got)
		}
		if all, _ := primary.FetchAll(ctx, "g"); len(all) != 3 {
			t.Fatalf("primary has %v, want all three partitions", all)
		}
	})
}

func TestDeleteAppliesToBothAndNeverResurrects(t *testing.T) {
	forBoth(t, func(t *testing.T, hide bool) {
		_, legacy, s := setup(t, hide)
		if err := s.Delete(ctx, "g", []offsetstore.TopicPartition{p0}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Fetch(ctx, "g", []offsetstore.TopicPartition{p0}); len(got) != 0 {
			t.Fatalf("deleted offset came back: %v", got)
		}
		if got, _ := legacy.Fetch(ctx, "g", []offsetstore.TopicPartition{p0}); len(got) != 0 {
			t.Fatalf("legacy still has %v", got)
		}
		if err := s.DeleteGroup(ctx, "legacy-only"); err != nil {
			t.Fatalf("DeleteGroup of a legacy-only group: %v", err)
		}
		if err := s.DeleteGroup(ctx, "legacy-only"); !errors.Is(err, offsetstore.ErrGroupNotFound) {
			t.Fatalf("second DeleteGroup = %v, want ErrGroupNotFound", err)
		}
		groups, _ := s.ListGroups(ctx)
		if len(groups) != 1 || groups[0] != "g" {
			t.Fatalf("ListGroups = %v, want [g]", groups)
		}
	})
}

// TestConcurrentDeleteAndRead races deletes with reads that copy up: once both finish, the
// deleted partition must be absent everywhere.
func TestConcurrentDeleteAndRead(t *testing.T) {
	forBoth(t, func(t *testing.T, hide bool) {
		for i := 0; i < 200; i++ {
			primary, legacy := memstore.New(memstore.Options{}), memstore.New(memstore.Options{})
			var p offsetstore.Store = primary
			if hide {
				p = plain{primary}
			}
			s := migrate.New(p, legacy, migrate.Options{})
			_ = legacy.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{p0: off(1)})
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = s.Fetch(ctx, "g", []offsetstore.TopicPartition{p0}) }()
			go func() { defer wg.Done(); _ = s.Delete(ctx, "g", []offsetstore.TopicPartition{p0}) }()
			wg.Wait()
			if got, _ := s.FetchAll(ctx, "g"); len(got) != 0 {
				t.Fatalf("iteration %d: deleted offset resurrected: %v", i, got)
			}
			s.Close()
		}
	})
}

// TestCopyNeverOverwritesCommit races commits with reads that copy up: the commit must win.
func TestCopyNeverOverwritesCommit(t *testing.T) {
	forBoth(t, func(t *testing.T, hide bool) {
		for i := 0; i < 200; i++ {
			primary, legacy := memstore.New(memstore.Options{}), memstore.New(memstore.Options{})
			var p offsetstore.Store = primary
			if hide {
				p = plain{primary}
			}
			s := migrate.New(p, legacy, migrate.Options{})
			_ = legacy.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{p0: off(1)})
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = s.Fetch(ctx, "g", []offsetstore.TopicPartition{p0}) }()
			go func() {
				defer wg.Done()
				_ = s.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{p0: off(2)})
			}()
			wg.Wait()
			if got, _ := s.Fetch(ctx, "g", []offsetstore.TopicPartition{p0}); got[p0].Offset != 2 {
				t.Fatalf("iteration %d: acknowledged commit lost, have %v", i, got)
			}
			s.Close()
		}
	})
}

func TestLegacyFailureIsAnError(t *testing.T) {
	primary := memstore.New(memstore.Options{})
	legacy := &failing{Store: memstore.New(memstore.Options{})}
	s := migrate.New(primary, legacy, migrate.Options{})
	defer s.Close()
	boom := errors.New("legacy down")
	legacy.arm(boom)
	if _, err := s.Fetch(ctx, "g", []offsetstore.TopicPartition{p0}); !errors.Is(err, boom) {
		t.Fatalf("Fetch = %v, want the legacy failure (never \"no offset\")", err)
	}
	if _, err := s.FetchAll(ctx, "g"); !errors.Is(err, boom) {
		t.Fatalf("FetchAll = %v, want the legacy failure", err)
	}
	// A primary hit needs no legacy read.
	_ = s.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{p0: off(3)})
	if got, err := s.Fetch(ctx, "g", []offsetstore.TopicPartition{p0}); err != nil || got[p0].Offset != 3 {
		t.Fatalf("Fetch of a primary hit = %v, %v", got, err)
	}
}

func TestFailedCopyStillAnswers(t *testing.T) {
	legacy := memstore.New(memstore.Options{})
	_ = legacy.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{p0: off(7)})
	// The primary reads fine but refuses writes: the legacy value is still the right answer.
	s := migrate.New(&commitFails{Store: memstore.New(memstore.Options{})}, legacy, migrate.Options{})
	defer s.Close()
	got, err := s.Fetch(ctx, "g", []offsetstore.TopicPartition{p0})
	if err != nil || got[p0].Offset != 7 {
		t.Fatalf("Fetch with a failing copy = %v, %v; want the legacy value", got, err)
	}
	if err := s.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{p0: off(8)}); err == nil {
		t.Fatal("a failed primary commit was reported as success")
	}
}

type commitFails struct{ offsetstore.Store }

func (c *commitFails) Commit(context.Context, string, map[offsetstore.TopicPartition]offsetstore.Offset) error {
	return errors.New("primary read-only")
}

func TestExpireOffsetsCoversLegacy(t *testing.T) {
	_, legacy, s := setup(t, false)
	_ = s.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{p0: off(20)})
	out, err := s.ExpireOffsets(ctx, "g", func(offsetstore.TopicPartition, offsetstore.Offset) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[p0].Offset != 20 || out[p1].Offset != 11 {
		t.Fatalf("expired %v, want p0=20 (primary) and p1=11 (legacy only)", out)
	}
	if all, _ := s.FetchAll(ctx, "g"); len(all) != 0 {
		t.Fatalf("expired offsets still readable: %v", all)
	}
	if all, _ := legacy.FetchAll(ctx, "g"); len(all) != 0 {
		t.Fatalf("legacy still holds %v: it would be copied back", all)
	}
	_, _, s2 := setup(t, true)
	if _, err := s2.ExpireOffsets(ctx, "g", func(offsetstore.TopicPartition, offsetstore.Offset) bool { return true }); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("ExpireOffsets without a primary Expirer = %v, want ErrUnsupported", err)
	}
}

func TestClose(t *testing.T) {
	primary, legacy := memstore.New(memstore.Options{}), memstore.New(memstore.Options{})
	s := migrate.New(primary, legacy, migrate.Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FetchAll(ctx, "g"); !errors.Is(err, offsetstore.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if _, err := primary.FetchAll(ctx, "g"); !errors.Is(err, offsetstore.ErrClosed) {
		t.Fatal("Close did not close the primary")
	}
}

// TestConformance runs the storetest suite on migration stores, with and without a primary
// Inserter and Fencer.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name    string
		primary func(*memstore.Store) offsetstore.Store
	}{
		{"primary-inserter", func(m *memstore.Store) offsetstore.Store { return m }},
		{"primary-plain", func(m *memstore.Store) offsetstore.Store { return plain{m} }},
		{"primary-fencer-only", func(m *memstore.Store) offsetstore.Store { return fencerOnly{m, m} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := storetest.TestStore(t.Context(), func(context.Context) (offsetstore.Store, error) {
				p := tc.primary(memstore.New(memstore.Options{}))
				return migrate.New(p, memstore.New(memstore.Options{}), migrate.Options{}), nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
