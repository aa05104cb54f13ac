package memstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/offsetstore/storetest"
)

func TestNewShards(t *testing.T) {
	ctx := context.Background()
	for _, shards := range []int{-1, 0, 1, 3, 64, 1 << 20} {
		s := memstore.New(memstore.Options{Shards: shards})
		tp := offsetstore.TopicPartition{Topic: "t", Partition: 1}
		for _, g := range []string{"", "a", "b", "c"} {
			if err := offsetstore.CommitOne(ctx, s, g, tp, offsetstore.Offset{Offset: int64(len(g))}); err != nil {
				t.Fatalf("shards=%d: %v", shards, err)
			}
		}
		for _, g := range []string{"", "a", "b", "c"} {
			o, ok, err := offsetstore.FetchOne(ctx, s, g, tp)
			if err != nil || !ok || o.Offset != int64(len(g)) {
				t.Fatalf("shards=%d group %q: got %v %v %v", shards, g, o, ok, err)
			}
		}
		groups, err := s.ListGroups(ctx)
		if err != nil || len(groups) != 4 {
			t.Fatalf("shards=%d: ListGroups = %q, %v", shards, groups, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestErrors(t *testing.T) {
	tp := offsetstore.TopicPartition{Topic: "t", Partition: 0}
	bad := offsetstore.TopicPartition{Topic: "t", Partition: -1}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	bg := context.Background()
	tests := []struct {
		name string
		call func(s *memstore.Store) error
		want error
		op   string
	}{
		{"commit negative partition", func(s *memstore.Store) error {
			return s.Commit(bg, "g", map[offsetstore.TopicPartition]offsetstore.Offset{bad: {}})
		}, offsetstore.ErrInvalid, "Commit"},
		{"fetch negative partition", func(s *memstore.Store) error {
			_, err := s.Fetch(bg, "g", []offsetstore.TopicPartition{tp, bad})
			return err
		}, offsetstore.ErrInvalid, "Fetch"},
		{"delete negative partition", func(s *memstore.Store) error {
			return s.Delete(bg, "g", []offsetstore.TopicPartition{bad})
		}, offsetstore.ErrInvalid, "Delete"},
		{"delete group absent", func(s *memstore.Store) error {
			return s.DeleteGroup(bg, "nobody")
		}, offsetstore.ErrGroupNotFound, "DeleteGroup"},
		{"commit cancelled", func(s *memstore.Store) error {
			return offsetstore.CommitOne(cancelled, s, "g", tp, offsetstore.Offset{})
		}, context.Canceled, "Commit"},
		{"list cancelled", func(s *memstore.Store) error {
			_, err := s.ListGroups(cancelled)
			return err
		}, context.Canceled, "ListGroups"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := memstore.New(memstore.Options{})
			defer s.Close()
			err := tt.call(s)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			var serr *offsetstore.Error
			if !errors.As(err, &serr) || serr.Op != tt.op {
				t.Fatalf("got %#v, want an *offsetstore.Error with Op %q", err, tt.op)
			}
			groups, err := s.ListGroups(bg)
			if err != nil || len(groups) != 0 {
				t.Fatalf("a failed call changed the store: groups %q, %v", groups, err)
			}
		})
	}
}

func TestDeleteLastOffsetRemovesGroup(t *testing.T) {
	ctx := context.Background()
	s := memstore.New(memstore.Options{})
	defer s.Close()
	tp := offsetstore.TopicPartition{Topic: "t", Partition: 0}
	if err := offsetstore.CommitOne(ctx, s, "g", tp, offsetstore.Offset{Offset: 1, CommitTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "g", []offsetstore.TopicPartition{tp}); err != nil {
		t.Fatal(err)
	}
	if groups, err := s.ListGroups(ctx); err != nil || len(groups) != 0 {
		t.Fatalf("ListGroups after deleting the last offset = %q, %v; want none", groups, err)
	}
	if err := s.DeleteGroup(ctx, "g"); !errors.Is(err, offsetstore.ErrGroupNotFound) {
		t.Fatalf("DeleteGroup of an emptied group = %v, want ErrGroupNotFound", err)
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(ctx context.Context, t *testing.T) (storetest.Harness, error) {
		return harness{}, nil
	})
}

// TestConformanceOneShard runs the suite on a store with a single lock, so both lock layouts
// are shown to obey the contract.
func TestConformanceOneShard(t *testing.T) {
	err := storetest.TestStore(t.Context(), func(context.Context) (offsetstore.Store, error) {
		return memstore.New(memstore.Options{Shards: 1}), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// harness opens a new memstore on every call: memstore is not durable.
type harness struct{}

func (harness) Open(context.Context) (offsetstore.Store, error) {
	return memstore.New(memstore.Options{}), nil
}
func (harness) Durable() bool { return false }
func (harness) Close()        {}
