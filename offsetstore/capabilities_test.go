package offsetstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/offsetkit/offsetkit/offsetstore"
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
			if !errors.Is(err, c.wantErr) || (c.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			var fetches int
			switch s := c.store.(type) {
			case *fetchOnly:
				fetches = s.fetches
			case *intoer:
				fetches = s.fetches
			}
			if fetches != c.fetches {
				t.Errorf("Fetch called %d times, want %d", fetches, c.fetches)
			}
			if err != nil {
				return
			}
			for i := range req {
				if dst[i] != c.want[i] || found[i] != c.wantFound[i] {
					t.Errorf("index %d: got %+v found %v, want %+v found %v", i, dst[i], found[i], c.want[i], c.wantFound[i])
				}
			}
		})
	}
}
