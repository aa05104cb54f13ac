package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/offsetstore/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewShards(t *testing.T) {
	ctx := context.Background()
	for _, shards := range []int{-1, 0, 1, 3, 64, 1 << 20} {
		s := memstore.New(memstore.Options{Shards: shards})
		tp := offsetstore.TopicPartition{Topic: "t", Partition: 1}
		for _, g := range []string{"", "a", "b", "c"} {
			require.NoError(t, offsetstore.CommitOne(ctx, s, g, tp, offsetstore.Offset{Offset: int64(len(g))}), "shards=%d", shards)
		}
		for _, g := range []string{"", "a", "b", "c"} {
			o, ok, err := offsetstore.FetchOne(ctx, s, g, tp)
			require.NoError(t, err)
			require.True(t, ok, "shards=%d group %q", shards, g)
			require.Equal(t, int64(len(g)), o.Offset, "shards=%d group %q", shards, g)
		}
		groups, err := s.ListGroups(ctx)
		require.NoError(t, err)
		require.Len(t, groups, 4, "shards=%d", shards)
		require.NoError(t, s.Close())
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
			require.ErrorIs(t, err, tt.want)
			var serr *offsetstore.Error
			require.ErrorAs(t, err, &serr)
			require.Equal(t, tt.op, serr.Op)
			groups, err := s.ListGroups(bg)
			require.NoError(t, err)
			require.Empty(t, groups, "a failed call changed the store")
		})
	}
}

func TestDeleteLastOffsetRemovesGroup(t *testing.T) {
	ctx := context.Background()
	s := memstore.New(memstore.Options{})
	defer s.Close()
	tp := offsetstore.TopicPartition{Topic: "t", Partition: 0}
	require.NoError(t, offsetstore.CommitOne(ctx, s, "g", tp, offsetstore.Offset{Offset: 1, CommitTime: time.Now()}))
	require.NoError(t, s.Delete(ctx, "g", []offsetstore.TopicPartition{tp}))
	groups, err := s.ListGroups(ctx)
	require.NoError(t, err)
	assert.Empty(t, groups, "ListGroups after deleting the last offset")
	assert.ErrorIs(t, s.DeleteGroup(ctx, "g"), offsetstore.ErrGroupNotFound, "DeleteGroup of an emptied group")
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
	require.NoError(t, err)
}

// harness opens a new memstore on every call: memstore is not durable.
type harness struct{}

func (harness) Open(context.Context) (offsetstore.Store, error) {
	return memstore.New(memstore.Options{}), nil
}
func (harness) Durable() bool { return false }
func (harness) Close()        {}
