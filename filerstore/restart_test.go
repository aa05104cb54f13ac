package filerstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/filerstore/weedtest"
	"github.com/offsetkit/offsetkit/offsetstore"
)

// TestRestartAfterKill commits offsets (single, batched, hostile names), and keeps a writer
// committing while weed is killed with SIGKILL; after a restart on the same data directory
// every acknowledged offset reads back, through the store that lived across the crash and
// through a new one.
func TestRestartAfterKill(t *testing.T) {
	ctx := testCtx(t)
	srv := weedtest.Start(t)
	s, err := filerstore.Dial(ctx, srv.Addr(), filerstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	acked := map[string]map[offsetstore.TopicPartition]offsetstore.Offset{}
	commit := func(group string, batch map[offsetstore.TopicPartition]offsetstore.Offset) {
		t.Helper()
		if err := s.Commit(ctx, group, batch); err != nil {
			t.Fatal(err)
		}
		if acked[group] == nil {
			acked[group] = map[offsetstore.TopicPartition]offsetstore.Offset{}
		}
		for tp, o := range batch {
			acked[group][tp] = offsetstore.Normalize(o)
		}
	}
	now := time.Now()
	for i := range 20 {
		commit("single", map[offsetstore.TopicPartition]offsetstore.Offset{{Topic: "t", Partition: int32(i)}: {Offset: int64(i), LeaderEpoch: 1, CommitTime: now}})
	}
	batch := map[offsetstore.TopicPartition]offsetstore.Offset{}
	for p := range 300 {
		batch[offsetstore.TopicPartition{Topic: fmt.Sprintf("topic-%d", p%5), Partition: int32(p)}] = offsetstore.Offset{Offset: int64(p) * 10, LeaderEpoch: 2, Metadata: "m", CommitTime: now, ExpireTime: now.Add(time.Hour)}
	}
	commit("batched", batch)
	for _, g := range []string{"a/b", "..", "", strings.Repeat("L", 600)} {
		commit(g, map[offsetstore.TopicPartition]offsetstore.Offset{{Topic: strings.Repeat("T", 300), Partition: 1}: {Offset: 5, LeaderEpoch: -1}})
	}

	// A group fence and state (offsetstore.Fencer) survive the crash too.
	fenced := offsetstore.GroupState{Fence: 3, ProtocolType: "consumer", Generation: 7, Empty: true, StateTime: now, Subscribed: []string{"t"}}
	if err := s.SaveGroupState(ctx, "fenced", 0, fenced); err != nil {
		t.Fatal(err)
	}

	// A writer commits increasing offsets until the filer fails it; each acknowledged one is
	// recorded.
	tp := offsetstore.TopicPartition{Topic: "live", Partition: 0}
	var (
		mu        sync.Mutex
		lastAcked = int64(-1)
		writerErr error
	)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := int64(0); ; i++ {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := offsetstore.CommitOne(cctx, s, "live", tp, offsetstore.Offset{Offset: i, LeaderEpoch: -1})
			cancel()
			mu.Lock()
			if err != nil {
				writerErr = err
				mu.Unlock()
				return
			}
			lastAcked = i
			mu.Unlock()
		}
	})
	for {
		mu.Lock()
		n := lastAcked
		mu.Unlock()
		if n >= 50 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	t.Logf("writer: last acknowledged %d, then %v", lastAcked, writerErr)

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	s2, err := filerstore.Dial(ctx, srv.Addr(), filerstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for _, store := range []*filerstore.Store{s, s2} {
		for g, want := range acked {
			got, err := store.FetchAll(ctx, g)
			if err != nil {
				t.Fatal(err)
			}
			assertOffsets(t, fmt.Sprintf("FetchAll(%.20q) after restart", g), got, want)
		}
		st, err := store.GroupState(ctx, "fenced")
		if err != nil || st.Fence != 3 || st.Generation != 7 || !st.Empty || !st.StateTime.Equal(now.Truncate(time.Millisecond)) || len(st.Subscribed) != 1 {
			t.Fatalf("GroupState after restart = %+v, %v; want %+v", st, err, fenced)
		}
		if err := store.CommitFenced(ctx, "fenced", 2, map[offsetstore.TopicPartition]offsetstore.Offset{tp: {Offset: 1}}); !errors.Is(err, offsetstore.ErrFenced) {
			t.Fatalf("CommitFenced with an old fence after restart = %v; want ErrFenced", err)
		}
		o, ok, err := offsetstore.FetchOne(ctx, store, "live", tp)
		if err != nil || !ok {
			t.Fatalf("live offset after restart: %v %v", ok, err)
		}
		// The offset in flight at the kill may or may not have been stored; nothing older
		// than the last acknowledged one may come back.
		if o.Offset != lastAcked && o.Offset != lastAcked+1 {
			t.Fatalf("live offset after restart = %d, last acknowledged %d", o.Offset, lastAcked)
		}
	}
}
