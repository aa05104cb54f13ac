package retention_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/retention"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestRuleExpired(t *testing.T) {
	const ret = time.Hour
	tpA := offsetstore.TopicPartition{Topic: "a", Partition: 0}
	tpB := offsetstore.TopicPartition{Topic: "b", Partition: 0}
	committed := offsetstore.Offset{Offset: 1, CommitTime: t0}
	withExpiry := offsetstore.Offset{Offset: 1, CommitTime: t0, ExpireTime: t0.Add(time.Second)}
	tests := []struct {
		name string
		act  retention.Activity
		tp   offsetstore.TopicPartition
		o    offsetstore.Offset
		at   time.Duration // since t0
		want bool
	}{
		{"simple: before retention", retention.Activity{}, tpA, committed, ret - time.Millisecond, false},
		{"simple: at retention", retention.Activity{}, tpA, committed, ret, true},
		{"simple: explicit expiry reached (v2-v4 retention 1s)", retention.Activity{}, tpA, withExpiry, time.Second, true},
		{"simple: explicit expiry not reached", retention.Activity{}, tpA, withExpiry, 999 * time.Millisecond, false},
		{"simple: explicit expiry wins over a longer retention", retention.Activity{}, tpA, offsetstore.Offset{CommitTime: t0, ExpireTime: t0.Add(2 * ret)}, ret, false},
		{"simple: unknown commit time is kept", retention.Activity{}, tpA, offsetstore.Offset{Offset: 1}, 100 * ret, false},
		{"empty: clock starts when the group became empty", retention.Activity{State: retention.StateEmpty, EmptySince: t0.Add(ret)}, tpA, committed, ret + ret/2, false},
		{"empty: expires retention after becoming empty", retention.Activity{State: retention.StateEmpty, EmptySince: t0.Add(ret)}, tpA, committed, 2 * ret, true},
		{"empty: commits while empty do not restart the clock", retention.Activity{State: retention.StateEmpty, EmptySince: t0}, tpA, offsetstore.Offset{CommitTime: t0.Add(ret / 2)}, ret, true},
		{"empty: unknown empty time falls back to commit time", retention.Activity{State: retention.StateEmpty}, tpA, committed, ret, true},
		{"stable: subscribed topic never expires", retention.Activity{State: retention.StateStable, Subscribed: []string{"a"}}, tpA, committed, 10 * ret, false},
		{"stable: subscribed topic ignores explicit expiry", retention.Activity{State: retention.StateStable, Subscribed: []string{"a"}}, tpA, withExpiry, 10 * ret, false},
		{"stable: unsubscribed topic expires by commit time", retention.Activity{State: retention.StateStable, Subscribed: []string{"a"}}, tpB, committed, ret, true},
		{"active: nothing expires", retention.Activity{State: retention.StateActive}, tpA, withExpiry, 10 * ret, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := retention.Rule{Retention: ret, Activity: tt.act}
			assert.Equal(t, tt.want, r.Expired(t0.Add(tt.at), tt.tp, tt.o), "Expired")
		})
	}
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func commit(t *testing.T, s offsetstore.Store, group, topic string, p int32, o offsetstore.Offset) {
	t.Helper()
	require.NoError(t, offsetstore.CommitOne(context.Background(), s, group, offsetstore.TopicPartition{Topic: topic, Partition: p}, o))
}

func TestSweepSimpleGroupExpiresAndDisappears(t *testing.T) {
	ctx := context.Background()
	store := memstore.New(memstore.Options{})
	defer store.Close()
	clk := &clock{now: t0}
	var gone []string
	sw, err := retention.New(store, retention.Options{
		Retention: time.Hour, Now: clk.Now,
		OnExpire: func(group string, _ map[offsetstore.TopicPartition]offsetstore.Offset, empty bool) {
			if empty {
				gone = append(gone, group)
			}
		},
	})
	require.NoError(t, err)
	defer sw.Close()
	commit(t, store, "simple", "t", 0, offsetstore.Offset{Offset: 5, CommitTime: t0})
	commit(t, store, "simple", "t", 1, offsetstore.Offset{Offset: 6, CommitTime: t0.Add(30 * time.Minute)})
	commit(t, store, "v3", "t", 0, offsetstore.Offset{Offset: 7, CommitTime: t0, ExpireTime: t0.Add(time.Second)})

	clk.Add(time.Second)
	st, err := sw.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, st.Expired, "first pass: want the v3 offset expired after 1s")
	clk.Add(time.Hour - time.Second)
	st, err = sw.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, st.Expired, "second pass")
	left, err := store.FetchAll(ctx, "simple")
	require.NoError(t, err)
	require.Len(t, left, 1)
	require.Contains(t, left, offsetstore.TopicPartition{Topic: "t", Partition: 1}, "want only partition 1 left")
	clk.Add(30 * time.Minute)
	st, err = sw.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, st.Expired, "third pass")
	groups, err := store.ListGroups(ctx)
	require.NoError(t, err)
	require.Empty(t, groups, "a simple group is deleted with its last offset")
	require.Len(t, gone, 2, "OnExpire reported empty groups %v, want v3 and simple", gone)
}

func TestSweepFollowsGroupActivity(t *testing.T) {
	ctx := context.Background()
	store := memstore.New(memstore.Options{})
	defer store.Close()
	clk := &clock{now: t0}
	var mu sync.Mutex
	act := retention.Activity{State: retention.StateActive}
	sw, err := retention.New(store, retention.Options{
		Retention: time.Hour, Now: clk.Now,
		Groups: retention.GroupActivityFunc(func(ctx context.Context, group string) (retention.Activity, error) {
			mu.Lock()
			defer mu.Unlock()
			if group == "broken" {
				return retention.Activity{}, errors.New("coordinator unavailable")
			}
			return act, nil
		}),
	})
	require.NoError(t, err)
	commit(t, store, "g", "t", 0, offsetstore.Offset{Offset: 1, CommitTime: t0})
	commit(t, store, "broken", "t", 0, offsetstore.Offset{Offset: 1, CommitTime: t0})
	clk.Add(48 * time.Hour)
	st, err := sw.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, 0, st.Expired, "group with members: nothing expires")
	require.Equal(t, 1, st.Failed, "the failing hook is counted")
	mu.Lock()
	act = retention.Activity{State: retention.StateEmpty, EmptySince: clk.Now().Add(-30 * time.Minute)}
	mu.Unlock()
	st, _ = sw.Sweep(ctx)
	require.Equal(t, 0, st.Expired, "30 minutes after the group became empty")
	clk.Add(30 * time.Minute)
	st, _ = sw.Sweep(ctx)
	require.Equal(t, 1, st.Expired, "an hour after the group became empty")
	all, err := store.FetchAll(ctx, "broken")
	require.NoError(t, err)
	require.Len(t, all, 1, "a group whose state is unknown lost offsets")
}

// TestSweepNeverLosesConcurrentCommits commits fresh offsets while passes run; no offset
// committed within the retention window may disappear.
func TestSweepNeverLosesConcurrentCommits(t *testing.T) {
	ctx := context.Background()
	store := memstore.New(memstore.Options{})
	defer store.Close()
	clk := &clock{now: t0}
	sw, err := retention.New(store, retention.Options{Retention: time.Hour, Now: clk.Now})
	require.NoError(t, err)
	for p := int32(0); p < 64; p++ {
		commit(t, store, "g", "t", p, offsetstore.Offset{Offset: 0, CommitTime: t0})
	}
	clk.Add(2 * time.Hour) // every old offset is now expired
	var wg sync.WaitGroup
	var stop atomic.Bool
	last := make([][16]int64, 4) // last offset each worker committed to each of its partitions
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; !stop.Load() || i < 32; i++ {
				p := i % 16
				commit(t, store, "g", "t", int32(w*16+p), offsetstore.Offset{Offset: int64(i + 1), CommitTime: clk.Now()})
				last[w][p] = int64(i + 1)
			}
		}(w)
	}
	for i := 0; i < 200; i++ {
		_, err := sw.Sweep(ctx)
		assert.NoError(t, err)
	}
	stop.Store(true)
	wg.Wait()
	all, _ := store.FetchAll(ctx, "g")
	for w := range last {
		for p, want := range last[w] {
			tp := offsetstore.TopicPartition{Topic: "t", Partition: int32(w*16 + p)}
			got, ok := all[tp]
			require.True(t, ok, "%v: a fresh commit was expired", tp)
			require.Equal(t, want, got.Offset, "%v: want the last commit", tp)
		}
	}
}

func TestNewRefusesStoreWithoutExpirer(t *testing.T) {
	_, err := retention.New(plainStore{memstore.New(memstore.Options{})}, retention.Options{})
	assert.ErrorIs(t, err, errors.ErrUnsupported)
	assert.ErrorIs(t, err, retention.ErrUnsupported)
}

// plainStore hides memstore's optional capabilities.
type plainStore struct{ offsetstore.Store }

func TestStartClose(t *testing.T) {
	store := memstore.New(memstore.Options{})
	defer store.Close()
	commit(t, store, "g", "t", 0, offsetstore.Offset{Offset: 1, CommitTime: t0})
	sw, err := retention.New(store, retention.Options{Retention: time.Hour, Interval: time.Millisecond, Now: func() time.Time { return t0.Add(2 * time.Hour) }})
	require.NoError(t, err)
	sw.Start(context.Background())
	sw.Start(context.Background()) // no second goroutine
	deadline := time.Now().Add(10 * time.Second)
	for {
		groups, _ := store.ListGroups(context.Background())
		if len(groups) == 0 {
			break
		}
		require.False(t, time.Now().After(deadline), "background sweeper never expired the offset")
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, sw.Close())
	require.NoError(t, sw.Close(), "a second Close")
	sw.Start(context.Background()) // after Close: does nothing
	commit(t, store, "g", "t", 0, offsetstore.Offset{Offset: 1, CommitTime: t0})
	time.Sleep(20 * time.Millisecond)
	all, _ := store.FetchAll(context.Background(), "g")
	assert.Len(t, all, 1, "sweeper kept running after Close")
}
