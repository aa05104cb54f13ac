// Package memstore is a thread-safe in-memory [offsetstore.Store], the embedded default of
// offsetkit: a gateway that needs no persistence, and every test that needs a store, uses it.
//
// Groups are spread by hash over a fixed number of shards, each with its own read-write lock,
// so commits and fetches of different groups rarely contend and reads of one group run in
// parallel. Within a group, offsets are held by topic and then partition in a compact form,
// so a request for many partitions of a few topics hashes each topic name once. Nothing
// survives Close or the end of the process.
//
// Besides offsetstore.Store, a Store implements the optional capabilities
// offsetstore.Expirer, offsetstore.Inserter, offsetstore.FetchIntoer,
// offsetstore.SliceCommitter, offsetstore.Fencer, offsetstore.PendingCommitter and
// offsetstore.Registry; FetchInto and CommitSlice let package protocol answer a request
// without building a map, and Registry lets several package ownership nodes in one process
// form a cluster over one Store. Group fences and states, like offsets and records, do not
// survive Close.
//
// A Store obeys the whole contract of package offsetstore, which the conformance suite in
// package storetest checks: values are copied in and out, times are kept to the millisecond,
// absent offsets are absent, and after Close every method returns [offsetstore.ErrClosed].
package memstore

import (
	"context"
	"hash/maphash"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// DefaultShards is the number of shards a Store uses when Options.Shards is zero.
const DefaultShards = 64

// maxShards bounds Options.Shards so a mistaken value cannot allocate without bound.
const maxShards = 1 << 16

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// Shards is the number of independently locked shards the groups are spread over. It is
	// rounded up to a power of two and capped at 65,536. Zero means DefaultShards; 1 gives a
	// single lock, which only benchmarks comparing lock layouts want.
	Shards int
}

// Store is an in-memory offsetstore.Store. It is safe for concurrent use by multiple
// goroutines. Create one with New; the zero value is not usable.
type Store struct {
	seed   maphash.Seed
	mask   uint64
	shards []shard
	closed atomic.Bool

	regMu sync.Mutex // guards reg
	reg   registry   // records of offsetstore.Registry
}

// shard holds the groups whose name hashes to it. It is padded to its own cache lines so
// that locking one shard does not slow down its neighbours.
type shard struct {
	mu      sync.RWMutex
	groups  map[string]*group
	states  map[string]offsetstore.GroupState // fences and group states (offsetstore.Fencer)
	pending map[string]*pendingGroup          // pending transactional offsets (offsetstore.PendingCommitter)
	_       [128 - 24 - 8 - 8 - 8]byte
}

var _ offsetstore.Store = (*Store)(nil)

// New returns an empty Store configured by opts.
func New(opts Options) *Store {
	n := opts.Shards
	switch {
	case n <= 0:
		n = DefaultShards
	case n > maxShards:
		n = maxShards
	}
	n = 1 << bits.Len(uint(n-1)) // round up to a power of two
	s := &Store{
		seed:   maphash.MakeSeed(),
		mask:   uint64(n - 1),
		shards: make([]shard, n),
	}
	for i := range s.shards {
		s.shards[i].groups = make(map[string]*group)
		s.shards[i].states = make(map[string]offsetstore.GroupState)
		s.shards[i].pending = make(map[string]*pendingGroup)
	}
	return s
}

func (s *Store) shard(group string) *shard {
	return &s.shards[maphash.String(s.seed, group)&s.mask]
}

// lockShard write-locks group's shard, then fails with ErrClosed if Close ran since the
// caller's check (Close empties the shards under these locks). The caller unlocks sh.mu.
func (s *Store) lockShard(op, group string) (*shard, error) {
	sh := s.shard(group)
	sh.mu.Lock()
	if s.closed.Load() {
		sh.mu.Unlock()
		return nil, &offsetstore.Error{Op: op, Group: group, Err: offsetstore.ErrClosed}
	}
	return sh, nil
}

// rlockShardAt read-locks the i-th shard, then fails with ErrClosed if Close ran since the
// caller's check. The caller read-unlocks sh.mu.
func (s *Store) rlockShardAt(op string, i int) (*shard, error) {
	sh := &s.shards[i]
	sh.mu.RLock()
	if s.closed.Load() {
		sh.mu.RUnlock()
		return nil, &offsetstore.Error{Op: op, Err: offsetstore.ErrClosed}
	}
	return sh, nil
}

// rlockShard is lockShard with a read lock; the caller read-unlocks sh.mu.
func (s *Store) rlockShard(op, group string) (*shard, error) {
	sh := s.shard(group)
	sh.mu.RLock()
	if s.closed.Load() {
		sh.mu.RUnlock()
		return nil, &offsetstore.Error{Op: op, Group: group, Err: offsetstore.ErrClosed}
	}
	return sh, nil
}

// group returns the group's offsets, creating them; the caller holds the write lock.
func (sh *shard) group(name string) *group {
	g := sh.groups[name]
	if g == nil {
		g = newGroup()
		sh.groups[name] = g
	}
	return g
}

// check returns the error a call must fail with before it touches any data: the context's
// error first, then ErrClosed.
func (s *Store) check(ctx context.Context, op, group string) error {
	if err := ctx.Err(); err != nil {
		return &offsetstore.Error{Op: op, Group: group, Err: err}
	}
	if s.closed.Load() {
		return &offsetstore.Error{Op: op, Group: group, Err: offsetstore.ErrClosed}
	}
	return nil
}

// Commit stores every offset of the batch for group, replacing what was stored. Times are
// truncated to the millisecond. A negative partition fails the whole batch with ErrInvalid
// before anything is stored.
func (s *Store) Commit(ctx context.Context, group string, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	return s.commit(ctx, "Commit", group, offsets, false, unfenced)
}

// lockWrite checks a write of offsets to group by op, under fence f, and returns the group's
// shard locked. It returns a nil shard, unlocked, when the write fails its checks (with the
// error) or has nothing to write (nil error).
func (s *Store) lockWrite(ctx context.Context, op, group string, offsets map[offsetstore.TopicPartition]offsetstore.Offset, f fence) (*shard, error) {
	if err := s.check(ctx, op, group); err != nil {
		return nil, err
	}
	if err := offsetstore.ValidateOffsets(offsets); err != nil {
		return nil, &offsetstore.Error{Op: op, Group: group, Err: err}
	}
	sh, err := s.lockShard(op, group)
	if err != nil {
		return nil, err
	}
	if err := sh.checkFence(op, group, f); err != nil || len(offsets) == 0 {
		sh.mu.Unlock()
		return nil, err
	}
	return sh, nil
}

// commit stores offsets for group under the group's lock: every offset, or with ifAbsent only
// those whose partition has nothing stored.
func (s *Store) commit(ctx context.Context, op, group string, offsets map[offsetstore.TopicPartition]offsetstore.Offset, ifAbsent bool, f fence) error {
	sh, err := s.lockWrite(ctx, op, group, offsets, f)
	if sh == nil {
		return err
	}
	defer sh.mu.Unlock()
	w := writer{g: sh.group(group)}
	pg := sh.pending[group]
	for tp, o := range offsets {
		// A plain write supersedes the pending offsets staged before it; CommitIfAbsent, which
		// fills in older offsets (migrations), does not.
		if w.set(tp, o, ifAbsent) && pg != nil && !ifAbsent {
			pg.supersede(tp, math.MaxUint64)
		}
	}
	return nil
}

// Fetch returns the stored offsets of the requested partitions; partitions with nothing
// stored are absent. The result is a new map the caller owns.
func (s *Store) Fetch(ctx context.Context, group string, partitions []offsetstore.TopicPartition) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	const op = "Fetch"
	if err := s.check(ctx, op, group); err != nil {
		return nil, err
	}
	if err := offsetstore.ValidatePartitions(partitions); err != nil {
		return nil, &offsetstore.Error{Op: op, Group: group, Err: err}
	}
	sh, err := s.rlockShard(op, group)
	if err != nil {
		return nil, err
	}
	defer sh.mu.RUnlock()
	g := sh.groups[group]
	if g == nil {
		return make(map[offsetstore.TopicPartition]offsetstore.Offset), nil
	}
	out := make(map[offsetstore.TopicPartition]offsetstore.Offset, min(len(partitions), g.n))
	c := cursor{g: g}
	for _, tp := range partitions {
		if e, ok := c.get(tp); ok {
			out[tp] = e.toOffset()
		}
	}
	return out, nil
}

// FetchAll returns every stored offset of group in a new map the caller owns: an empty map for
// a group with none.
func (s *Store) FetchAll(ctx context.Context, group string) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	const op = "FetchAll"
	if err := s.check(ctx, op, group); err != nil {
		return nil, err
	}
	sh, err := s.rlockShard(op, group)
	if err != nil {
		return nil, err
	}
	defer sh.mu.RUnlock()
	return sh.groups[group].all(), nil
}

// Delete removes the stored offsets of the given partitions, ignoring those with nothing
// stored. A group whose last offset is deleted no longer exists: ListGroups omits it and
// DeleteGroup reports ErrGroupNotFound.
func (s *Store) Delete(ctx context.Context, group string, partitions []offsetstore.TopicPartition) error {
	return s.delete(ctx, "Delete", group, partitions, unfenced)
}

func (s *Store) delete(ctx context.Context, op, group string, partitions []offsetstore.TopicPartition, f fence) error {
	if err := s.check(ctx, op, group); err != nil {
		return err
	}
	if err := offsetstore.ValidatePartitions(partitions); err != nil {
		return &offsetstore.Error{Op: op, Group: group, Err: err}
	}
	sh, err := s.lockShard(op, group)
	if err != nil {
		return err
	}
	defer sh.mu.Unlock()
	if err := sh.checkFence(op, group, f); err != nil {
		return err
	}
	sh.deleted(group, partitions, false)
	g := sh.groups[group]
	if g == nil {
		return nil
	}
	for _, tp := range partitions {
		g.del(tp)
	}
	if g.n == 0 {
		delete(sh.groups, group)
	}
	return nil
}

// DeleteGroup removes every offset of group, or returns an error matching
// offsetstore.ErrGroupNotFound when it has none.
func (s *Store) DeleteGroup(ctx context.Context, group string) error {
	return s.deleteGroup(ctx, "DeleteGroup", group, unfenced)
}

func (s *Store) deleteGroup(ctx context.Context, op, group string, f fence) error {
	if err := s.check(ctx, op, group); err != nil {
		return err
	}
	sh, err := s.lockShard(op, group)
	if err != nil {
		return err
	}
	defer sh.mu.Unlock()
	if err := sh.checkFence(op, group, f); err != nil {
		return err
	}
	sh.deleted(group, nil, true)
	if _, ok := sh.groups[group]; !ok {
		return &offsetstore.Error{Op: op, Group: group, Err: offsetstore.ErrGroupNotFound}
	}
	delete(sh.groups, group)
	return nil
}

// ListGroups returns every group with at least one stored offset, in no particular order.
// Each shard is read under its own lock, so a group committed or deleted while ListGroups
// runs may or may not appear.
func (s *Store) ListGroups(ctx context.Context) ([]string, error) {
	const op = "ListGroups"
	if err := s.check(ctx, op, ""); err != nil {
		return nil, err
	}
	var out []string
	for i := range s.shards {
		if i%16 == 0 {
			if err := s.check(ctx, op, ""); err != nil {
				return nil, err
			}
		}
		sh := &s.shards[i]
		sh.mu.RLock()
		for g := range sh.groups {
			out = append(out, g)
		}
		sh.mu.RUnlock()
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// Close discards every stored offset. It is idempotent and always returns nil; every other
// method returns an error matching offsetstore.ErrClosed afterwards.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.groups = nil
		sh.states = nil
		sh.pending = nil
		sh.mu.Unlock()
	}
	s.regMu.Lock()
	s.reg = registry{}
	s.regMu.Unlock()
	return nil
}
