package offsetstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
)

func TestErrorWrapsAndFormats(t *testing.T) {
	err := error(&offsetstore.Error{Op: "Commit", Group: "a/b", Err: offsetstore.ErrClosed})
	if !errors.Is(err, offsetstore.ErrClosed) {
		t.Fatal("errors.Is does not see through *Error")
	}
	var e *offsetstore.Error
	if !errors.As(err, &e) || e.Op != "Commit" || e.Group != "a/b" {
		t.Fatalf("errors.As = %+v", e)
	}
	if got, want := err.Error(), `offsetstore: Commit group "a/b": store is closed`; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if got := (&offsetstore.Error{Op: "Fetch"}).Error(); got != `offsetstore: Fetch group "": <nil>` {
		t.Fatalf("nil Err formats as %q", got)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		tps  []offsetstore.TopicPartition
		bad  bool
	}{
		{"empty", nil, false},
		{"zero partition and odd names", []offsetstore.TopicPartition{{Topic: "", Partition: 0}, {Topic: "..", Partition: 7}}, false},
		{"negative partition", []offsetstore.TopicPartition{{Topic: "t", Partition: 0}, {Topic: "t", Partition: -1}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := offsetstore.ValidatePartitions(tt.tps)
			if got := errors.Is(err, offsetstore.ErrInvalid); got != tt.bad {
				t.Fatalf("ValidatePartitions = %v, want invalid %v", err, tt.bad)
			}
			m := map[offsetstore.TopicPartition]offsetstore.Offset{}
			for _, tp := range tt.tps {
				m[tp] = offsetstore.Offset{}
			}
			if got := errors.Is(offsetstore.ValidateOffsets(m), offsetstore.ErrInvalid); got != tt.bad {
				t.Fatalf("ValidateOffsets invalid = %v, want %v", got, tt.bad)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	loc := time.FixedZone("x", 3600)
	in := offsetstore.Offset{Offset: 1, CommitTime: time.Date(2026, 1, 2, 3, 4, 5, 678901234, loc)}
	got := offsetstore.Normalize(in)
	if want := time.UnixMilli(in.CommitTime.UnixMilli()); !got.CommitTime.Equal(want) || got.CommitTime.Nanosecond() != 678000000 {
		t.Fatalf("CommitTime = %v, want %v", got.CommitTime, want)
	}
	if got.CommitTime.Location() != time.UTC {
		t.Fatalf("location = %v, want UTC", got.CommitTime.Location())
	}
	if !got.ExpireTime.IsZero() {
		t.Fatal("a zero ExpireTime must stay zero")
	}
}

func TestSortedPartitions(t *testing.T) {
	m := map[offsetstore.TopicPartition]int{{"b", 0}: 0, {"a", 2}: 0, {"a", 10}: 0, {"", 1}: 0}
	got := offsetstore.SortedPartitions(m)
	want := []offsetstore.TopicPartition{{"", 1}, {"a", 2}, {"a", 10}, {"b", 0}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if s := (offsetstore.TopicPartition{Topic: "t", Partition: 3}).String(); s != "t/3" {
		t.Fatalf("String() = %q", s)
	}
}

// mapStore is the smallest Store, enough to exercise the single-partition helpers.
type mapStore struct {
	offsetstore.Store
	m   map[offsetstore.TopicPartition]offsetstore.Offset
	err error
}

func (s *mapStore) Commit(_ context.Context, _ string, o map[offsetstore.TopicPartition]offsetstore.Offset) error {
	for k, v := range o {
		s.m[k] = v
	}
	return s.err
}

func (s *mapStore) Fetch(_ context.Context, _ string, ps []offsetstore.TopicPartition) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	if s.err != nil {
		return nil, s.err
	}
	out := map[offsetstore.TopicPartition]offsetstore.Offset{}
	for _, p := range ps {
		if o, ok := s.m[p]; ok {
			out[p] = o
		}
	}
	return out, nil
}

func TestOneHelpers(t *testing.T) {
	ctx := context.Background()
	s := &mapStore{m: map[offsetstore.TopicPartition]offsetstore.Offset{}}
	tp := offsetstore.TopicPartition{Topic: "t", Partition: 1}
	if _, ok, err := offsetstore.FetchOne(ctx, s, "g", tp); ok || err != nil {
		t.Fatalf("FetchOne of nothing = %v, %v", ok, err)
	}
	if err := offsetstore.CommitOne(ctx, s, "g", tp, offsetstore.Offset{Offset: 9}); err != nil {
		t.Fatal(err)
	}
	if o, ok, err := offsetstore.FetchOne(ctx, s, "g", tp); !ok || err != nil || o.Offset != 9 {
		t.Fatalf("FetchOne = %v, %v, %v", o, ok, err)
	}
	s.err = errors.New("down")
	if _, ok, err := offsetstore.FetchOne(ctx, s, "g", tp); ok || err == nil {
		t.Fatal("FetchOne turned a store failure into an answer")
	}
}
