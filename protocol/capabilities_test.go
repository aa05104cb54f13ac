package protocol_test

import (
	"context"
	"errors"
	"testing"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
	"github.com/stretchr/testify/assert"
)

// declines has the optional capabilities FetchIntoer and SliceCommitter but answers
// errors.ErrUnsupported, as a wrapper over a store without them does.
type declines struct {
	offsetstore.Store
	calls int
}

func (d *declines) FetchInto(context.Context, string, []offsetstore.TopicPartition, []offsetstore.Offset, []bool) error {
	d.calls++
	return &offsetstore.Error{Op: "FetchInto", Err: errors.ErrUnsupported}
}

func (d *declines) CommitSlice(context.Context, string, []offsetstore.TopicPartition, []offsetstore.Offset) error {
	d.calls++
	return &offsetstore.Error{Op: "CommitSlice", Err: errors.ErrUnsupported}
}

// The Handler gives the same answers whether the store has FetchInto and CommitSlice
// (memstore), lacks them (plain), or has them and declines (declines): each capability is
// only a faster path to the same result.
func TestStoreCapabilitiesGiveSameAnswers(t *testing.T) {
	ctx := context.Background()
	md := strp("some metadata")
	commit := commitReq(9, "g", -1, "", "t", []part{{0, 10, 3, md}, {1, 11, -1, nil}, {0, 12, 4, strp("later")}},
		"u", []part{{2, 20, 5, strp("")}})
	fetch := fetchReq(9, "g", "t", []int32{0, 1, 2, 0}, "u", []int32{2}, "absent", []int32{0})
	want := []fetchGroupResult{{Count: 6, Partitions: map[string]fetched{
		"t/0":      {Offset: 12, Epoch: 4, Metadata: "later"},
		"t/1":      {Offset: 11, Epoch: -1},
		"t/2":      {Offset: -1, Epoch: -1},
		"u/2":      {Offset: 20, Epoch: 5},
		"absent/0": {Offset: -1, Epoch: -1},
	}}}
	for _, c := range []struct {
		name  string
		store func(*memstore.Store) offsetstore.Store
		calls int // calls the declining capabilities get
	}{
		{"capabilities", func(s *memstore.Store) offsetstore.Store { return s }, 0},
		{"plain", func(s *memstore.Store) offsetstore.Store { return struct{ offsetstore.Store }{s} }, 0},
		{"declining", func(s *memstore.Store) offsetstore.Store { return &declines{Store: s} }, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			ms := memstore.New(memstore.Options{})
			defer ms.Close()
			st := c.store(ms)
			h := protocol.New(st, protocol.Options{Now: clock})
			cresp := commitOK(ctx, t, h, commit)
			assert.Equal(t, codes("t/0", 0, "t/1", 0, "t/0", 0, "u/2", 0), commitCodes(cresp))
			got := fetchResults(fetchOK(ctx, t, h, fetch))
			if d, ok := st.(*declines); ok {
				assert.Equal(t, c.calls, d.calls, "calls to the declining capabilities")
			}
			assert.Equal(t, want, got)
		})
	}
}
