package offsetstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fetchOnly answers Fetch from a map; every other Store method is absent (nil embedded).
type fetchOnly struct {
	offsetstore.Store
	m       map[offsetstore.TopicPartition]offsetstore.Offset
	fetches int
}

func (f *fetchOnly) Fetch(_ context.Context, _ string, ps []offsetstore.TopicPartition) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	f.fetches++
	out := map[offsetstore.TopicPartition]offsetstore.Offset{}
	for _, p := range ps {
		if o, ok := f.m[p]; ok {
			out[p] = o
		}
	}
	return out, nil
}

// intoer implements FetchIntoer by answering every partition with offset 42, or with err.
type intoer struct {
	fetchOnly
	err   error
	calls int
}

func (s *intoer) FetchInto(_ context.Context, _ string, ps []offsetstore.TopicPartition, dst []offsetstore.Offset, found []bool) error {
	s.calls++
	if s.err != nil {
		return s.err
	}
	for i := range ps {
		dst[i], found[i] = offsetstore.Offset{Offset: 42}, true
	}
	return nil
}

func TestFetchInto(t *testing.T) {
	ctx := context.Background()
	tp := func(p int32) offsetstore.TopicPartition { return offsetstore.TopicPartition{Topic: "t", Partition: p} }
	stored := map[offsetstore.TopicPartition]offsetstore.Offset{tp(0): {Offset: 7, LeaderEpoch: 1, Metadata: "m"}}
	boom := errors.New("boom")
	req := []offsetstore.TopicPartition{tp(0), tp(1), tp(0)}
	fromFetch := []offsetstore.Offset{stored[tp(0)], {}, stored[tp(0)]}
	from42 := []offsetstore.Offset{{Offset: 42}, {Offset: 42}, {Offset: 42}}
	for _, c := range []struct {
		name       string
		store      offsetstore.Store
		dst, found int // lengths of the slices
		want       []offsetstore.Offset
		wantFound  []bool
		wantErr    error
		fetches    int
	}{
		{"no capability: Fetch", &fetchOnly{m: stored}, 3, 3, fromFetch, []bool{true, false, true}, nil, 1},
		{"capability", &intoer{fetchOnly: fetchOnly{m: stored}}, 3, 3, from42, []bool{true, true, true}, nil, 0},
		{"capability unsupported: Fetch", &intoer{fetchOnly: fetchOnly{m: stored}, err: errors.ErrUnsupported}, 3, 3, fromFetch, []bool{true, false, true}, nil, 1},
		{"capability error passes through", &intoer{fetchOnly: fetchOnly{m: stored}, err: boom}, 3, 3, nil, nil, boom, 0},
		{"short dst", &fetchOnly{m: stored}, 2, 3, nil, nil, offsetstore.ErrInvalid, 0},
		{"short found", &fetchOnly{m: stored}, 3, 0, nil, nil, offsetstore.ErrInvalid, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			dst, found := make([]offsetstore.Offset, c.dst), make([]bool, c.found)
			for i := range dst {
				dst[i] = offsetstore.Offset{Offset: -99, Metadata: "stale"}
			}
			for i := range found {
				found[i] = true
			}
			err := offsetstore.FetchInto(ctx, c.store, "g", req, dst, found)
			require.ErrorIs(t, err, c.wantErr) // a nil wantErr wants a nil err
			var fetches int
			switch s := c.store.(type) {
			case *fetchOnly:
				fetches = s.fetches
			case *intoer:
				fetches = s.fetches
			}
			assert.Equal(t, c.fetches, fetches, "Fetch calls")
			if err != nil {
				return
			}
			for i := range req {
				assert.Equal(t, c.want[i], dst[i], "index %d", i)
				assert.Equal(t, c.wantFound[i], found[i], "index %d found", i)
			}
		})
	}
}

// commitOnly records the map its Commit is given.
type commitOnly struct {
	offsetstore.Store
	got map[offsetstore.TopicPartition]offsetstore.Offset
}

func (s *commitOnly) Commit(_ context.Context, _ string, m map[offsetstore.TopicPartition]offsetstore.Offset) error {
	s.got = m
	return nil
}

// slicer implements SliceCommitter by recording its arguments, or failing with err.
type slicer struct {
	commitOnly
	err   error
	calls int
}

func (s *slicer) CommitSlice(_ context.Context, _ string, ps []offsetstore.TopicPartition, os []offsetstore.Offset) error {
	s.calls++
	return s.err
}

func TestCommitSlice(t *testing.T) {
	ctx := context.Background()
	tp := func(p int32) offsetstore.TopicPartition { return offsetstore.TopicPartition{Topic: "t", Partition: p} }
	ps := []offsetstore.TopicPartition{tp(0), tp(1), tp(0)}
	os := []offsetstore.Offset{{Offset: 1}, {Offset: 2}, {Offset: 3}}
	asMap := map[offsetstore.TopicPartition]offsetstore.Offset{tp(0): {Offset: 3}, tp(1): {Offset: 2}}
	boom := errors.New("boom")
	for _, c := range []struct {
		name      string
		store     offsetstore.Store
		offs      []offsetstore.Offset
		wantMap   map[offsetstore.TopicPartition]offsetstore.Offset // what Commit got; nil: not called
		wantCalls int
		wantErr   error
	}{
		{"no capability: Commit of the map, the later wins", &commitOnly{}, os, asMap, 0, nil},
		{"capability", &slicer{}, os, nil, 1, nil},
		{"capability unsupported: Commit", &slicer{err: errors.ErrUnsupported}, os, asMap, 1, nil},
		{"capability error passes through", &slicer{err: boom}, os, nil, 1, boom},
		{"lengths differ", &commitOnly{}, os[:2], nil, 0, offsetstore.ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := offsetstore.CommitSlice(ctx, c.store, "g", ps, c.offs)
			require.ErrorIs(t, err, c.wantErr) // a nil wantErr wants a nil err
			var got map[offsetstore.TopicPartition]offsetstore.Offset
			calls := 0
			switch s := c.store.(type) {
			case *commitOnly:
				got = s.got
			case *slicer:
				got, calls = s.got, s.calls
			}
			assert.Equal(t, c.wantCalls, calls, "CommitSlice calls")
			assert.Equal(t, c.wantMap, got, "what Commit got")
		})
	}
}
