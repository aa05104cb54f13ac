package offsetstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestErrorWrapsAndFormats(t *testing.T) {
	err := error(&offsetstore.Error{Op: "Commit", Group: "a/b", Err: offsetstore.ErrClosed})
	require.ErrorIs(t, err, offsetstore.ErrClosed, "errors.Is must see through *Error")
	var e *offsetstore.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "Commit", e.Op)
	assert.Equal(t, "a/b", e.Group)
	assert.EqualError(t, err, `offsetstore: Commit group "a/b": store is closed`)
	assert.EqualError(t, &offsetstore.Error{Op: "Fetch"}, `offsetstore: Fetch group "": <nil>`, "a nil Err")
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
			assert.Equal(t, tt.bad, errors.Is(err, offsetstore.ErrInvalid), "ValidatePartitions = %v", err)
			m := map[offsetstore.TopicPartition]offsetstore.Offset{}
			for _, tp := range tt.tps {
				m[tp] = offsetstore.Offset{}
			}
			err = offsetstore.ValidateOffsets(m)
			assert.Equal(t, tt.bad, errors.Is(err, offsetstore.ErrInvalid), "ValidateOffsets = %v", err)
			err = offsetstore.ValidateFetchInto(tt.tps, make([]offsetstore.Offset, len(tt.tps)), make([]bool, len(tt.tps)))
			assert.Equal(t, tt.bad, errors.Is(err, offsetstore.ErrInvalid), "ValidateFetchInto = %v", err)
		})
	}
}

func TestValidateFetchIntoLengths(t *testing.T) {
	tps := []offsetstore.TopicPartition{{Topic: "t", Partition: 0}, {Topic: "t", Partition: 1}}
	tests := []struct {
		name         string
		dsts, founds int
		bad          bool
	}{
		{"exact", 2, 2, false},
		{"longer", 3, 5, false},
		{"short dst", 1, 2, true},
		{"short found", 2, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := offsetstore.ValidateFetchInto(tps, make([]offsetstore.Offset, tt.dsts), make([]bool, tt.founds))
			assert.Equal(t, tt.bad, errors.Is(err, offsetstore.ErrInvalid), "ValidateFetchInto = %v", err)
		})
	}
}

func TestNormalize(t *testing.T) {
	loc := time.FixedZone("x", 3600)
	in := offsetstore.Offset{Offset: 1, CommitTime: time.Date(2026, 1, 2, 3, 4, 5, 678901234, loc)}
	got := offsetstore.Normalize(in)
	assert.True(t, got.CommitTime.Equal(time.UnixMilli(in.CommitTime.UnixMilli())), "CommitTime = %v", got.CommitTime)
	assert.Equal(t, 678000000, got.CommitTime.Nanosecond(), "truncated to the millisecond")
	assert.Equal(t, time.UTC, got.CommitTime.Location())
	assert.True(t, got.ExpireTime.IsZero(), "a zero ExpireTime must stay zero")
}

func TestSortedPartitions(t *testing.T) {
	m := map[offsetstore.TopicPartition]int{{"b", 0}: 0, {"a", 2}: 0, {"a", 10}: 0, {"", 1}: 0}
	got := offsetstore.SortedPartitions(m)
	want := []offsetstore.TopicPartition{{"", 1}, {"a", 2}, {"a", 10}, {"b", 0}}
	assert.Equal(t, want, got)
	assert.Equal(t, "t/3", offsetstore.TopicPartition{Topic: "t", Partition: 3}.String())
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
	_, ok, err := offsetstore.FetchOne(ctx, s, "g", tp)
	require.NoError(t, err)
	assert.False(t, ok, "FetchOne of nothing")
	require.NoError(t, offsetstore.CommitOne(ctx, s, "g", tp, offsetstore.Offset{Offset: 9}))
	o, ok, err := offsetstore.FetchOne(ctx, s, "g", tp)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, int64(9), o.Offset)
	s.err = errors.New("down")
	_, ok, err = offsetstore.FetchOne(ctx, s, "g", tp)
	assert.Error(t, err, "FetchOne turned a store failure into an answer")
	assert.False(t, ok)
}
