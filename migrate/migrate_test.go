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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	ctx = context.Background()
	p0  = offsetstore.TopicPartition{Topic: "t", Partition: 0}
	p1  = offsetstore.TopicPartition{Topic: "t", Partition: 1}
	p2  = offsetstore.TopicPartition{Topic: "t", Partition: 2}
)

type offsets = map[offsetstore.TopicPartition]offsetstore.Offset

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
	require.NoError(t, legacy.Commit(ctx, "g", offsets{p0: off(10), p1: off(11)}))
	require.NoError(t, legacy.Commit(ctx, "legacy-only", offsets{p0: off(1)}))
	return primary, legacy, s
}

func forBoth(t *testing.T, f func(t *testing.T, hide bool)) {
	t.Run("primary-inserter", func(t *testing.T) { f(t, false) })
	t.Run("primary-plain", func(t *testing.T) { f(t, true) })
}

func TestFetchFallsBackAndCopiesUp(t *testing.T) {
	forBoth(t, func(t *testing.T, hide bool) {
		primary, _, s := setup(t, hide)
		require.NoError(t, s.Commit(ctx, "g", offsets{p1: off(99)}))
		got, err := s.Fetch(ctx, "g", []offsetstore.TopicPartition{p0, p1, p2})
		require.NoError(t, err)
		assert.Equal(t, offsets{p0: off(10), p1: off(99)}, got, "legacy p0, primary p1 (primary wins), p2 absent")
		inPrimary, err := primary.FetchAll(ctx, "g")
		require.NoError(t, err)
		assert.Equal(t, offsets{p0: off(10), p1: off(99)}, inPrimary, "after the read: p0 copied up, p1 untouched")
	})
}

// FetchInto follows Fetch's rules, whether the primary has its own FetchInto (primary-inserter)
// or not (primary-plain).
func TestFetchIntoFallsBackAndCopiesUp(t *testing.T) {
	forBoth(t, func(t *testing.T, hide bool) {
		primary, _, s := setup(t, hide)
		require.NoError(t, s.Commit(ctx, "g", offsets{p1: off(99)}))
		req := []offsetstore.TopicPartition{p0, p1, p2, p0}
		dst, found := make([]offsetstore.Offset, len(req)), []bool{true, true, true, true}
		require.NoError(t, s.FetchInto(ctx, "g", req, dst, found))
		assert.Equal(t, []offsetstore.Offset{off(10), off(99), {}, off(10)}, dst)
		assert.Equal(t, []bool{true, true, false, true}, found)
		inPrimary, err := primary.FetchAll(ctx, "g")
		require.NoError(t, err)
		assert.Equal(t, offsets{p0: off(10), p1: off(99)}, inPrimary, "after the read: p0 copied up, p1 untouched")
	})
}

// CommitSlice goes to the primary only, whether it has its own CommitSlice or not, and wins
// over the legacy store.
func TestCommitSliceGoesToPrimary(t *testing.T) {
	forBoth(t, func(t *testing.T, hide bool) {
		primary, legacy, s := setup(t, hide)
		err := s.CommitSlice(ctx, "g", []offsetstore.TopicPartition{p0, p2, p0}, []offsetstore.Offset{off(1), off(2), off(3)})
		require.NoError(t, err)
		inPrimary, err := primary.FetchAll(ctx, "g")
		require.NoError(t, err)
		assert.Equal(t, offsets{p0: off(3), p2: off(2)}, inPrimary, "p0: the later of two")
		inLegacy, err := legacy.FetchAll(ctx, "g")
		require.NoError(t, err)
		assert.Equal(t, offsets{p0: off(10), p1: off(11)}, inLegacy, "the legacy store is untouched")
		got, err := s.Fetch(ctx, "g", []offsetstore.TopicPartition{p0, p1})
		require.NoError(t, err)
		assert.Equal(t, offsets{p0: off(3), p1: off(11)}, got, "p0 from the primary, p1 from the legacy store")
	})
}

func TestFetchAllMergesAndCopies(t *testing.T) {
	forBoth(t, func(t *testing.T, hide bool) {
		primary, _, s := setup(t, hide)
		_ = s.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{p0: off(50), p2: off(52)})
		got, err := s.FetchAll(ctx, "g")
		require.NoError(t, err)
		assert.Equal(t, offsets{p0: off(50), p1: off(11), p2: off(52)}, got)
		all, err := primary.FetchAll(ctx, "g")
		require.NoError(t, err)
		assert.Len(t, all, 3, "the primary has all three partitions")
	})
}

func TestDeleteAppliesToBothAndNeverResurrects(t *testing.T) {
	forBoth(t, func(t *testing.T, hide bool) {
		_, legacy, s := setup(t, hide)
		require.NoError(t, s.Delete(ctx, "g", []offsetstore.TopicPartition{p0}))
		got, err := s.Fetch(ctx, "g", []offsetstore.TopicPartition{p0})
		require.NoError(t, err)
		assert.Empty(t, got, "deleted offset came back")
		got, err = legacy.Fetch(ctx, "g", []offsetstore.TopicPartition{p0})
		require.NoError(t, err)
		assert.Empty(t, got, "the legacy store still has it")
		require.NoError(t, s.DeleteGroup(ctx, "legacy-only"), "DeleteGroup of a legacy-only group")
		assert.ErrorIs(t, s.DeleteGroup(ctx, "legacy-only"), offsetstore.ErrGroupNotFound, "second DeleteGroup")
		groups, err := s.ListGroups(ctx)
		require.NoError(t, err)
		assert.Equal(t, []string{"g"}, groups)
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
			got, err := s.FetchAll(ctx, "g")
			require.NoError(t, err)
			require.Empty(t, got, "iteration %d: deleted offset resurrected", i)
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
			got, err := s.Fetch(ctx, "g", []offsetstore.TopicPartition{p0})
			require.NoError(t, err)
			require.Equal(t, int64(2), got[p0].Offset, "iteration %d: acknowledged commit lost", i)
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
	_, err := s.Fetch(ctx, "g", []offsetstore.TopicPartition{p0})
	assert.ErrorIs(t, err, boom, "Fetch must return the legacy failure, never \"no offset\"")
	_, err = s.FetchAll(ctx, "g")
	assert.ErrorIs(t, err, boom, "FetchAll must return the legacy failure")
	// A primary hit needs no legacy read.
	require.NoError(t, s.Commit(ctx, "g", offsets{p0: off(3)}))
	got, err := s.Fetch(ctx, "g", []offsetstore.TopicPartition{p0})
	require.NoError(t, err, "Fetch of a primary hit")
	assert.Equal(t, offsets{p0: off(3)}, got)
}

func TestFailedCopyStillAnswers(t *testing.T) {
	legacy := memstore.New(memstore.Options{})
	_ = legacy.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{p0: off(7)})
	// The primary reads fine but refuses writes: the legacy value is still the right answer.
	s := migrate.New(&commitFails{Store: memstore.New(memstore.Options{})}, legacy, migrate.Options{})
	defer s.Close()
	got, err := s.Fetch(ctx, "g", []offsetstore.TopicPartition{p0})
	require.NoError(t, err, "Fetch with a failing copy")
	assert.Equal(t, offsets{p0: off(7)}, got, "the legacy value")
	assert.Error(t, s.Commit(ctx, "g", offsets{p0: off(8)}), "a failed primary commit was reported as success")
}

type commitFails struct{ offsetstore.Store }

func (c *commitFails) Commit(context.Context, string, map[offsetstore.TopicPartition]offsetstore.Offset) error {
	return errors.New("primary read-only")
}

func TestExpireOffsetsCoversLegacy(t *testing.T) {
	_, legacy, s := setup(t, false)
	_ = s.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{p0: off(20)})
	out, err := s.ExpireOffsets(ctx, "g", func(offsetstore.TopicPartition, offsetstore.Offset) bool { return true })
	require.NoError(t, err)
	assert.Equal(t, offsets{p0: off(20), p1: off(11)}, out, "p0 from the primary, p1 legacy only")
	all, err := s.FetchAll(ctx, "g")
	require.NoError(t, err)
	assert.Empty(t, all, "expired offsets still readable")
	all, err = legacy.FetchAll(ctx, "g")
	require.NoError(t, err)
	assert.Empty(t, all, "the legacy store still holds them: they would be copied back")
	_, _, s2 := setup(t, true)
	_, err = s2.ExpireOffsets(ctx, "g", func(offsetstore.TopicPartition, offsetstore.Offset) bool { return true })
	assert.ErrorIs(t, err, errors.ErrUnsupported, "ExpireOffsets without a primary Expirer")
}

func TestClose(t *testing.T) {
	primary, legacy := memstore.New(memstore.Options{}), memstore.New(memstore.Options{})
	s := migrate.New(primary, legacy, migrate.Options{})
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "a second Close")
	_, err := s.FetchAll(ctx, "g")
	assert.ErrorIs(t, err, offsetstore.ErrClosed, "after Close")
	_, err = primary.FetchAll(ctx, "g")
	assert.ErrorIs(t, err, offsetstore.ErrClosed, "Close did not close the primary")
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
			require.NoError(t, err)
		})
	}
}

// TestCopyGroup copies a group eagerly: every legacy offset the primary lacks lands in the
// primary, what the primary has is kept, other groups are untouched, and a legacy failure
// or a closed store is an error.
func TestCopyGroup(t *testing.T) {
	forBoth(t, func(t *testing.T, hide bool) {
		primary, legacy, s := setup(t, hide)
		require.NoError(t, s.Commit(ctx, "g", map[offsetstore.TopicPartition]offsetstore.Offset{p1: off(99)}))

		require.NoError(t, s.CopyGroup(ctx, "g"))
		inPrimary, err := primary.FetchAll(ctx, "g")
		require.NoError(t, err)
		assert.Equal(t, map[offsetstore.TopicPartition]offsetstore.Offset{p0: off(10), p1: off(99)}, inPrimary,
			"p0 copied from legacy, p1 kept from the primary")
		other, err := primary.FetchAll(ctx, "legacy-only")
		require.NoError(t, err)
		assert.Empty(t, other, "CopyGroup(g) copied another group")
		stillLegacy, err := legacy.FetchAll(ctx, "g")
		require.NoError(t, err)
		assert.Len(t, stillLegacy, 2, "CopyGroup must leave the legacy store as it was")

		require.NoError(t, s.CopyGroup(ctx, "never-committed"), "copying an empty group")
		groups, err := primary.ListGroups(ctx)
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{"g"}, groups, "an empty copy created a group in the primary")
	})

	t.Run("legacy-failure", func(t *testing.T) {
		legacy := &failing{Store: memstore.New(memstore.Options{})}
		s := migrate.New(memstore.New(memstore.Options{}), legacy, migrate.Options{})
		defer s.Close()
		boom := errors.New("legacy down")
		legacy.arm(boom)
		assert.ErrorIs(t, s.CopyGroup(ctx, "g"), boom)
	})

	t.Run("closed", func(t *testing.T) {
		_, _, s := setup(t, false)
		require.NoError(t, s.Close())
		assert.ErrorIs(t, s.CopyGroup(ctx, "g"), offsetstore.ErrClosed)
	})
}
