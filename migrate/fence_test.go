package migrate_test

import (
	"errors"
	"testing"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/migrate"
	"github.com/offsetkit/offsetkit/offsetstore"
)

// fencerOnly exposes a store's Fencer and nothing else beyond the Store contract: a primary
// without an Inserter.
type fencerOnly struct {
	offsetstore.Store
	offsetstore.Fencer
}

// TestFencedWritesCoverLegacy: fenced deletes and expiry refused by the primary's fence
// change nothing readable, legacy-only offsets included; accepted, they remove the legacy
// copies too, so nothing is copied back.
func TestFencedWritesCoverLegacy(t *testing.T) {
	all := func(offsetstore.TopicPartition, offsetstore.Offset) bool { return true }
	forBoth(t, func(t *testing.T, hideInserter bool) {
		primary, legacy := memstore.New(memstore.Options{}), memstore.New(memstore.Options{})
		var p offsetstore.Store = primary
		if hideInserter {
			p = fencerOnly{primary, primary}
		}
		s := migrate.New(p, legacy, migrate.Options{})
		t.Cleanup(func() { s.Close() })
		if err := legacy.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{p0: off(10), p1: off(11), p2: off(12)}); err != nil {
			t.Fatal(err)
		}
		if err := s.CommitFenced(ctx, "g", 0, map[offsetstore.TopicPartition]offsetstore.Offset{p0: off(20)}); err != nil {
			t.Fatal(err)
		}
		st := offsetstore.GroupState{Fence: 1, ProtocolType: "consumer", Generation: 1}
		if err := s.SaveGroupState(ctx, "g", 0, st); err != nil {
			t.Fatal(err)
		}
		if got, err := primary.GroupState(ctx, "g"); err != nil || got.Fence != 1 || got.Generation != 1 {
			t.Fatalf("the primary's state = %+v, %v; want the saved one", got, err)
		}
		want := map[offsetstore.TopicPartition]int64{p0: 20, p1: 11, p2: 12}
		check := func(what string) {
			t.Helper()
			got, err := s.FetchAll(ctx, "g")
			if err != nil || len(got) != len(want) {
				t.Fatalf("%s: FetchAll = %v, %v; want %v", what, got, err, want)
			}
			for tp, o := range want {
				if got[tp].Offset != o {
					t.Fatalf("%s: %v = %d, want %d", what, tp, got[tp].Offset, o)
				}
			}
		}
		stale := []struct {
			name string
			call func() error
		}{
			{"CommitFenced", func() error {
				return s.CommitFenced(ctx, "g", 0, map[offsetstore.TopicPartition]offsetstore.Offset{p1: off(99)})
			}},
			{"DeleteFenced", func() error { return s.DeleteFenced(ctx, "g", 0, []offsetstore.TopicPartition{p0, p1}) }},
			{"ExpireOffsetsFenced", func() error { _, err := s.ExpireOffsetsFenced(ctx, "g", 0, all); return err }},
			{"DeleteGroupFenced", func() error { return s.DeleteGroupFenced(ctx, "g", 0) }},
		}
		for _, c := range stale {
			if err := c.call(); !errors.Is(err, offsetstore.ErrFenced) {
				t.Fatalf("%s with a stale fence = %v; want ErrFenced", c.name, err)
			}
			check("after a stale " + c.name)
		}

		if err := s.DeleteFenced(ctx, "g", 1, []offsetstore.TopicPartition{p1}); err != nil {
			t.Fatal(err)
		}
		delete(want, p1)
		check("after DeleteFenced of p1")
		out, err := s.ExpireOffsetsFenced(ctx, "g", 1, func(tp offsetstore.TopicPartition, _ offsetstore.Offset) bool { return tp == p2 })
		if err != nil || len(out) != 1 || out[p2].Offset != 12 {
			t.Fatalf("ExpireOffsetsFenced of p2 = %v, %v; want p2=12", out, err)
		}
		delete(want, p2)
		check("after ExpireOffsetsFenced of p2")
		if err := s.DeleteGroupFenced(ctx, "g", 1); err != nil {
			t.Fatal(err)
		}
		if left, err := legacy.FetchAll(ctx, "g"); err != nil || len(left) != 0 {
			t.Fatalf("legacy after the fenced deletes = %v, %v; want nothing left to copy back", left, err)
		}
		if got, err := s.FetchAll(ctx, "g"); err != nil || len(got) != 0 {
			t.Fatalf("FetchAll after DeleteGroupFenced = %v, %v", got, err)
		}
		if err := s.DeleteGroupFenced(ctx, "g", 1); !errors.Is(err, offsetstore.ErrGroupNotFound) {
			t.Fatalf("DeleteGroupFenced of a deleted group = %v; want ErrGroupNotFound", err)
		}
		if got, err := s.GroupState(ctx, "g"); err != nil || got.Fence != 1 || got.Generation != 1 {
			t.Fatalf("GroupState after the group's offsets are gone = %+v, %v; want it kept", got, err)
		}
	})
}

// TestFencerNeedsPrimaryFencer: without a primary Fencer, every Fencer method reports
// errors.ErrUnsupported, as a store without the capability.
func TestFencerNeedsPrimaryFencer(t *testing.T) {
	_, _, s := setup(t, true)
	calls := map[string]func() error{
		"GroupState":          func() error { _, err := s.GroupState(ctx, "g"); return err },
		"GroupStates":         func() error { _, err := s.GroupStates(ctx); return err },
		"SaveGroupState":      func() error { return s.SaveGroupState(ctx, "g", 0, offsetstore.GroupState{Fence: 1}) },
		"CommitFenced":        func() error { return s.CommitFenced(ctx, "g", 0, nil) },
		"DeleteFenced":        func() error { return s.DeleteFenced(ctx, "g", 0, []offsetstore.TopicPartition{p0}) },
		"DeleteGroupFenced":   func() error { return s.DeleteGroupFenced(ctx, "g", 0) },
		"ExpireOffsetsFenced": func() error { _, err := s.ExpireOffsetsFenced(ctx, "g", 0, nil); return err },
	}
	for op, call := range calls {
		var se *offsetstore.Error
		if err := call(); !errors.Is(err, errors.ErrUnsupported) || !errors.As(err, &se) || se.Op != op {
			t.Errorf("%s = %v; want ErrUnsupported in an *offsetstore.Error", op, err)
		}
	}
	if got, err := s.FetchAll(ctx, "g"); err != nil || len(got) != 2 {
		t.Fatalf("FetchAll after the refused calls = %v, %v; want the legacy offsets untouched", got, err)
	}
}
