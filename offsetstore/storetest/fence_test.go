package storetest_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/offsetstore/storetest"
)

// The broken Fencers below are memstore with one rule of offsetstore.Fencer broken, the way
// real backends get it wrong.

// needsFenceEntry refuses fenced writes to a group whose state was never saved, the way a
// store that conditions writes on a fence entry existing does.
type needsFenceEntry struct {
	*memstore.Store
	mu    *sync.Mutex
	saved map[string]bool
}

func (s needsFenceEntry) SaveGroupState(ctx context.Context, g string, prev int64, st offsetstore.GroupState) error {
	err := s.Store.SaveGroupState(ctx, g, prev, st)
	if err == nil {
		s.mu.Lock()
		s.saved[g] = true
		s.mu.Unlock()
	}
	return err
}

func (s needsFenceEntry) CommitFenced(ctx context.Context, g string, fence int64, m offsets) error {
	s.mu.Lock()
	saved := s.saved[g]
	s.mu.Unlock()
	if !saved {
		return &offsetstore.Error{Op: "CommitFenced", Group: g, Err: offsetstore.ErrFenced}
	}
	return s.Store.CommitFenced(ctx, g, fence, m)
}

// secondStateTime keeps StateTime to the second.
type secondStateTime struct{ *memstore.Store }

func (s secondStateTime) SaveGroupState(ctx context.Context, g string, prev int64, st offsetstore.GroupState) error {
	st.StateTime = st.StateTime.Truncate(time.Second)
	return s.Store.SaveGroupState(ctx, g, prev, st)
}

// ignoresPrev saves over whatever fence is stored: a read of the fence, then an
// unconditional write.
type ignoresPrev struct{ *memstore.Store }

func (s ignoresPrev) SaveGroupState(ctx context.Context, g string, prev int64, st offsetstore.GroupState) error {
	cur, err := s.Store.GroupState(ctx, g)
	if err != nil {
		return err
	}
	return s.Store.SaveGroupState(ctx, g, cur.Fence, st)
}

// unfencedDelete deletes whatever fence DeleteFenced carries.
type unfencedDelete struct{ *memstore.Store }

func (s unfencedDelete) DeleteFenced(ctx context.Context, g string, _ int64, tps []tp) error {
	return s.Store.Delete(ctx, g, tps)
}

// bareFenced returns ErrFenced without the *offsetstore.Error around it.
type bareFenced struct{ *memstore.Store }

func (s bareFenced) SaveGroupState(ctx context.Context, g string, prev int64, st offsetstore.GroupState) error {
	err := s.Store.SaveGroupState(ctx, g, prev, st)
	if errors.Is(err, offsetstore.ErrFenced) {
		return offsetstore.ErrFenced
	}
	return err
}

// resetsFence keeps a group's fence and state with its offsets, so deleting the group's
// offsets starts it afresh at fence 0, the way a store that keeps the fence inside the
// group's directory does. Each generation of a group is a group of its own in memstore.
type resetsFence struct {
	*memstore.Store
	mu  *sync.Mutex
	gen map[string]int
}

func (s resetsFence) name(g string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return g + "\x00" + strconv.Itoa(s.gen[g])
}

func (s resetsFence) reset(g string, err error) error {
	if err == nil {
		s.mu.Lock()
		s.gen[g]++
		s.mu.Unlock()
	}
	return err
}

func (s resetsFence) Commit(ctx context.Context, g string, m offsets) error {
	return s.Store.Commit(ctx, s.name(g), m)
}
func (s resetsFence) FetchAll(ctx context.Context, g string) (offsets, error) {
	return s.Store.FetchAll(ctx, s.name(g))
}
func (s resetsFence) Delete(ctx context.Context, g string, tps []tp) error {
	return s.Store.Delete(ctx, s.name(g), tps)
}
func (s resetsFence) DeleteGroup(ctx context.Context, g string) error {
	return s.reset(g, s.Store.DeleteGroup(ctx, s.name(g)))
}
func (s resetsFence) ExpireOffsets(ctx context.Context, g string, expired func(tp, offsetstore.Offset) bool) (offsets, error) {
	return s.Store.ExpireOffsets(ctx, s.name(g), expired)
}
func (s resetsFence) GroupState(ctx context.Context, g string) (offsetstore.GroupState, error) {
	return s.Store.GroupState(ctx, s.name(g))
}
func (s resetsFence) GroupStates(ctx context.Context) (map[string]offsetstore.GroupState, error) {
	all, err := s.Store.GroupStates(ctx)
	out := map[string]offsetstore.GroupState{}
	for g, st := range all {
		g, _, _ = strings.Cut(g, "\x00")
		out[g] = st
	}
	return out, err
}
func (s resetsFence) SaveGroupState(ctx context.Context, g string, prev int64, st offsetstore.GroupState) error {
	return s.Store.SaveGroupState(ctx, s.name(g), prev, st)
}
func (s resetsFence) CommitFenced(ctx context.Context, g string, fence int64, m offsets) error {
	return s.Store.CommitFenced(ctx, s.name(g), fence, m)
}
func (s resetsFence) DeleteFenced(ctx context.Context, g string, fence int64, tps []tp) error {
	return s.Store.DeleteFenced(ctx, s.name(g), fence, tps)
}
func (s resetsFence) DeleteGroupFenced(ctx context.Context, g string, fence int64) error {
	return s.reset(g, s.Store.DeleteGroupFenced(ctx, s.name(g), fence))
}
func (s resetsFence) ExpireOffsetsFenced(ctx context.Context, g string, fence int64, expired func(tp, offsetstore.Offset) bool) (offsets, error) {
	m, err := s.Store.ExpireOffsetsFenced(ctx, s.name(g), fence, expired)
	if err == nil {
		if left, ferr := s.Store.FetchAll(ctx, s.name(g)); ferr == nil && len(left) == 0 {
			s.reset(g, nil) // the group's directory went with its last offset
		}
	}
	return m, err
}

// delayedCommits checks the fence of a single-partition CommitFenced when it arrives,
// acknowledges it, and applies it only after the next larger batch: the way a write queued in
// a slow network or a paused server lands after the fence moved and a newer commit.
type delayedCommits struct {
	*memstore.Store
	mu      *sync.Mutex
	pending *[]func()
}

func (s delayedCommits) CommitFenced(ctx context.Context, g string, fence int64, m offsets) error {
	if len(m) == 1 {
		st, err := s.Store.GroupState(ctx, g)
		if err != nil {
			return err
		}
		if st.Fence != fence {
			return &offsetstore.Error{Op: "CommitFenced", Group: g, Err: offsetstore.ErrFenced}
		}
		s.mu.Lock()
		*s.pending = append(*s.pending, func() { s.Store.Commit(context.Background(), g, m) })
		s.mu.Unlock()
		return nil
	}
	err := s.Store.CommitFenced(ctx, g, fence, m)
	s.mu.Lock()
	late := *s.pending
	*s.pending = nil
	s.mu.Unlock()
	for _, apply := range late {
		apply()
	}
	return err
}

// forgetsFences keeps offsets across reopening but not fences and states.
func forgetsFences(context.Context) (storetest.Harness, error) {
	data := memstore.New(memstore.Options{})
	return &harness{durable: true, open: func(context.Context) (offsetstore.Store, error) {
		return &forgetsOnReopen{reopened: reopened{Store: data}, fences: memstore.New(memstore.Options{})}, nil
	}}, nil
}

// forgetsOnReopen is one opening of forgetsFences: offsets go to the durable data, fences to a
// store of this opening alone.
type forgetsOnReopen struct {
	reopened
	fences *memstore.Store
}

func (f *forgetsOnReopen) GroupState(ctx context.Context, g string) (offsetstore.GroupState, error) {
	if err := f.check("GroupState", g); err != nil {
		return offsetstore.GroupState{}, err
	}
	return f.fences.GroupState(ctx, g)
}
func (f *forgetsOnReopen) GroupStates(ctx context.Context) (map[string]offsetstore.GroupState, error) {
	if err := f.check("GroupStates", ""); err != nil {
		return nil, err
	}
	return f.fences.GroupStates(ctx)
}
func (f *forgetsOnReopen) SaveGroupState(ctx context.Context, g string, prev int64, st offsetstore.GroupState) error {
	if err := f.check("SaveGroupState", g); err != nil {
		return err
	}
	return f.fences.SaveGroupState(ctx, g, prev, st)
}
func (f *forgetsOnReopen) CommitFenced(ctx context.Context, g string, fence int64, m offsets) error {
	if err := f.check("CommitFenced", g); err != nil {
		return err
	}
	if err := f.fences.CommitFenced(ctx, g, fence, nil); err != nil {
		return err
	}
	return f.reopened.Commit(ctx, g, m)
}

var fenceBroken = []struct {
	name     string
	caughtBy string
	harness  func(context.Context) (storetest.Harness, error)
}{
	{"refuses fence 0 of a group never saved", "FenceStart", fresh(func(s offsetstore.Store) offsetstore.Store {
		return needsFenceEntry{s.(*memstore.Store), &sync.Mutex{}, map[string]bool{}}
	})},
	{"keeps StateTime to the second", "FenceState", fresh(func(s offsetstore.Store) offsetstore.Store { return secondStateTime{s.(*memstore.Store)} })},
	{"SaveGroupState ignores prev", "FenceSave", fresh(func(s offsetstore.Store) offsetstore.Store { return ignoresPrev{s.(*memstore.Store)} })},
	{"DeleteFenced ignores the fence", "FencedWrites", fresh(func(s offsetstore.Store) offsetstore.Store { return unfencedDelete{s.(*memstore.Store)} })},
	{"DeleteGroup resets the fence", "FenceKept", fresh(func(s offsetstore.Store) offsetstore.Store {
		return resetsFence{s.(*memstore.Store), &sync.Mutex{}, map[string]int{}}
	})},
	{"returns a bare ErrFenced", "FenceErrors", fresh(func(s offsetstore.Store) offsetstore.Store { return bareFenced{s.(*memstore.Store)} })},
	{"applies fenced commits after a newer one", "FenceConcurrency", fresh(func(s offsetstore.Store) offsetstore.Store {
		return delayedCommits{s.(*memstore.Store), &sync.Mutex{}, new([]func())}
	})},
	{"claims durability but forgets fences on reopen", "FenceDurability", forgetsFences},
}

// The durable memstore harness of these tests forwards Fencer too.

func (r *reopened) mem() *memstore.Store { return r.Store.(*memstore.Store) }

func (r *reopened) GroupState(ctx context.Context, g string) (offsetstore.GroupState, error) {
	if err := r.check("GroupState", g); err != nil {
		return offsetstore.GroupState{}, err
	}
	return r.mem().GroupState(ctx, g)
}
func (r *reopened) GroupStates(ctx context.Context) (map[string]offsetstore.GroupState, error) {
	if err := r.check("GroupStates", ""); err != nil {
		return nil, err
	}
	return r.mem().GroupStates(ctx)
}
func (r *reopened) SaveGroupState(ctx context.Context, g string, prev int64, st offsetstore.GroupState) error {
	if err := r.check("SaveGroupState", g); err != nil {
		return err
	}
	return r.mem().SaveGroupState(ctx, g, prev, st)
}
func (r *reopened) CommitFenced(ctx context.Context, g string, fence int64, m offsets) error {
	if err := r.check("CommitFenced", g); err != nil {
		return err
	}
	return r.mem().CommitFenced(ctx, g, fence, m)
}
func (r *reopened) DeleteFenced(ctx context.Context, g string, fence int64, tps []tp) error {
	if err := r.check("DeleteFenced", g); err != nil {
		return err
	}
	return r.mem().DeleteFenced(ctx, g, fence, tps)
}
func (r *reopened) DeleteGroupFenced(ctx context.Context, g string, fence int64) error {
	if err := r.check("DeleteGroupFenced", g); err != nil {
		return err
	}
	return r.mem().DeleteGroupFenced(ctx, g, fence)
}
func (r *reopened) ExpireOffsetsFenced(ctx context.Context, g string, fence int64, expired func(tp, offsetstore.Offset) bool) (offsets, error) {
	if err := r.check("ExpireOffsetsFenced", g); err != nil {
		return nil, err
	}
	return r.mem().ExpireOffsetsFenced(ctx, g, fence, expired)
}

var _ offsetstore.Fencer = (*reopened)(nil)
