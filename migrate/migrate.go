// Package migrate moves a deployment from one offset store to another without losing a single
// offset: a Store serves from a primary store and falls back to a legacy one on a miss,
// copying what it finds into the primary, and applies deletes to both.
//
// Typical use is the SeaweedFS Kafka gateway switching backends: wrap the new store as primary
// and the old one as legacy, run until every group has been read or rewritten (or copy
// eagerly with [Store.CopyGroup]), then drop the wrapper.
//
// Rules, beyond the offsetstore contract it obeys:
//
//   - Commits go to the primary only. The primary always wins over the legacy store.
//   - A read that misses in the primary reads the legacy store; a legacy failure is an error,
//     never "no offset". What the legacy store has is copied into the primary only where the
//     primary still has nothing, so a commit that races with the copy is never overwritten.
//     If the copy fails, the read still returns the legacy value (it is the right answer) and
//     the next read copies again.
//   - Delete and DeleteGroup apply to both stores, legacy first, so a deleted offset cannot be
//     copied back up.
//   - ListGroups is the union of both stores' groups.
//   - Group fences and states (offsetstore.Fencer) live in the primary only, and fenced writes
//     are conditioned there. Fenced deletes and expiry first copy the legacy offsets they
//     concern into the primary, then delete legacy first as above, so that a write the
//     primary's fence refuses changes nothing readable.
//
// Within one process these rules hold under any concurrency: the Store serialises, per group,
// copies with deletes (and, when the primary lacks offsetstore.Inserter, with commits). Several
// processes migrating the same groups at once should use a primary that implements
// offsetstore.Inserter; a delete in one process can still race with a copy in another, so
// deletes are best left until the migration is done, or confined to one process.
package migrate

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// Options configure a Store. The zero value works.
type Options struct {
	// Logger receives failed copies into the primary; nil discards.
	Logger *slog.Logger
	// KeepOpen leaves the primary and legacy stores open when the Store is closed. By default
	// Close closes both.
	KeepOpen bool
}

const lockStripes = 64

// Store is an offsetstore.Store that migrates offsets from a legacy store into a primary one
// as they are read. It is safe for concurrent use.
type Store struct {
	primary, legacy offsetstore.Store
	ins             offsetstore.Inserter // nil when the primary is not an Inserter
	opts            Options
	seed            maphash.Seed
	locks           [lockStripes]sync.Mutex
	closed          atomic.Bool
}

var (
	_ offsetstore.Store          = (*Store)(nil)
	_ offsetstore.Expirer        = (*Store)(nil)
	_ offsetstore.Inserter       = (*Store)(nil)
	_ offsetstore.FetchIntoer    = (*Store)(nil)
	_ offsetstore.SliceCommitter = (*Store)(nil)
	_ offsetstore.Fencer         = (*Store)(nil)
)

// New returns a Store that serves from primary and falls back to legacy.
func New(primary, legacy offsetstore.Store, opts Options) *Store {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{primary: primary, legacy: legacy, opts: opts, seed: maphash.MakeSeed()}
	s.ins, _ = primary.(offsetstore.Inserter)
	return s
}

func (s *Store) lock(group string) *sync.Mutex {
	return &s.locks[maphash.String(s.seed, group)%lockStripes]
}

func (s *Store) check(ctx context.Context, op, group string) error {
	if s.closed.Load() {
		return &offsetstore.Error{Op: op, Group: group, Err: offsetstore.ErrClosed}
	}
	if err := ctx.Err(); err != nil {
		return &offsetstore.Error{Op: op, Group: group, Err: err}
	}
	return nil
}

// Commit stores offsets in the primary store.
func (s *Store) Commit(ctx context.Context, group string, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	if err := s.check(ctx, "Commit", group); err != nil {
		return err
	}
	if s.ins == nil {
		mu := s.lock(group)
		mu.Lock()
		defer mu.Unlock()
	}
	return s.primary.Commit(ctx, group, offsets)
}

// CommitSlice implements offsetstore.SliceCommitter: Commit from slices, through the primary's
// own CommitSlice when it has one.
func (s *Store) CommitSlice(ctx context.Context, group string, partitions []offsetstore.TopicPartition, offsets []offsetstore.Offset) error {
	if err := s.check(ctx, "CommitSlice", group); err != nil {
		return err
	}
	if s.ins == nil {
		mu := s.lock(group)
		mu.Lock()
		defer mu.Unlock()
	}
	return offsetstore.CommitSlice(ctx, s.primary, group, partitions, offsets)
}

// Fetch reads the primary store, then the legacy store for what the primary lacks, copying
// what it finds into the primary.
func (s *Store) Fetch(ctx context.Context, group string, partitions []offsetstore.TopicPartition) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	if err := s.check(ctx, "Fetch", group); err != nil {
		return nil, err
	}
	got, err := s.primary.Fetch(ctx, group, partitions)
	if err != nil {
		return nil, err
	}
	var missing []offsetstore.TopicPartition
	for _, tp := range partitions {
		if _, ok := got[tp]; !ok {
			missing = append(missing, tp)
		}
	}
	if len(missing) == 0 {
		return got, nil
	}
	up, err := s.copyUp(ctx, group, func(ctx context.Context) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
		return s.legacy.Fetch(ctx, group, missing)
	})
	if err != nil {
		return nil, err
	}
	for tp, o := range up {
		got[tp] = o
	}
	return got, nil
}

// FetchInto implements offsetstore.FetchIntoer with Fetch's rules: it reads the primary (through
// its own FetchInto when it has one, so a read the primary answers in full allocates nothing),
// then the legacy store for the partitions the primary lacks, copying what it finds into the
// primary.
func (s *Store) FetchInto(ctx context.Context, group string, partitions []offsetstore.TopicPartition, dst []offsetstore.Offset, found []bool) error {
	if err := s.check(ctx, "FetchInto", group); err != nil {
		return err
	}
	if err := offsetstore.FetchInto(ctx, s.primary, group, partitions, dst, found); err != nil {
		return err
	}
	var missing []offsetstore.TopicPartition
	for i, tp := range partitions {
		if !found[i] {
			missing = append(missing, tp)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	up, err := s.copyUp(ctx, group, func(ctx context.Context) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
		return s.legacy.Fetch(ctx, group, missing)
	})
	if err != nil {
		return err
	}
	for i, tp := range partitions {
		if !found[i] {
			dst[i], found[i] = up[tp]
		}
	}
	return nil
}

// FetchAll returns the union of both stores' offsets for group, the primary's winning, and
// copies the legacy-only ones into the primary.
func (s *Store) FetchAll(ctx context.Context, group string) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	if err := s.check(ctx, "FetchAll", group); err != nil {
		return nil, err
	}
	got, err := s.primary.FetchAll(ctx, group)
	if err != nil {
		return nil, err
	}
	up, err := s.copyUp(ctx, group, func(ctx context.Context) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
		all, err := s.legacy.FetchAll(ctx, group)
		if err != nil {
			return nil, err
		}
		for tp := range got {
			delete(all, tp)
		}
		return all, nil
	})
	if err != nil {
		return nil, err
	}
	for tp, o := range up {
		got[tp] = o
	}
	return got, nil
}

// copyUp reads legacy offsets with read, under the group's lock, and stores them in the
// primary where it has nothing. It returns the value each partition now has: the primary's if
// a commit won the race, the legacy value otherwise (also when the copy failed).
func (s *Store) copyUp(ctx context.Context, group string, read func(context.Context) (map[offsetstore.TopicPartition]offsetstore.Offset, error)) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	mu := s.lock(group)
	mu.Lock()
	defer mu.Unlock()
	found, err := read(ctx)
	if err != nil || len(found) == 0 {
		return found, err
	}
	if err := s.storeUp(ctx, group, found); err != nil {
		s.opts.Logger.Warn("migrate: copy into primary failed", "group", group, "err", err)
		return found, nil
	}
	// Return what the primary holds now: a concurrent commit may have won.
	now, err := s.primary.Fetch(ctx, group, offsetstore.SortedPartitions(found))
	if err != nil {
		return found, nil
	}
	for tp, o := range now {
		found[tp] = o
	}
	return found, nil
}

// storeUp stores found in the primary where it has nothing; the caller holds the group's
// lock.
func (s *Store) storeUp(ctx context.Context, group string, found map[offsetstore.TopicPartition]offsetstore.Offset) error {
	if len(found) == 0 {
		return nil
	}
	if s.ins != nil {
		return s.ins.CommitIfAbsent(ctx, group, found)
	}
	// Commits hold the same lock without an Inserter, so what the primary lacks now it lacks
	// until we store it.
	now, err := s.primary.Fetch(ctx, group, offsetstore.SortedPartitions(found))
	if err != nil {
		return err
	}
	todo := make(map[offsetstore.TopicPartition]offsetstore.Offset, len(found))
	for tp, o := range found {
		if _, ok := now[tp]; !ok {
			todo[tp] = o
		}
	}
	return s.primary.Commit(ctx, group, todo)
}

// Delete removes the partitions from the legacy store, then from the primary.
func (s *Store) Delete(ctx context.Context, group string, partitions []offsetstore.TopicPartition) error {
	if err := s.check(ctx, "Delete", group); err != nil {
		return err
	}
	mu := s.lock(group)
	mu.Lock()
	defer mu.Unlock()
	if err := s.legacy.Delete(ctx, group, partitions); err != nil {
		return err
	}
	return s.primary.Delete(ctx, group, partitions)
}

// DeleteGroup removes the group from both stores. It returns ErrGroupNotFound only when
// neither had it.
func (s *Store) DeleteGroup(ctx context.Context, group string) error {
	if err := s.check(ctx, "DeleteGroup", group); err != nil {
		return err
	}
	mu := s.lock(group)
	mu.Lock()
	defer mu.Unlock()
	errL := s.legacy.DeleteGroup(ctx, group)
	if errL != nil && !errors.Is(errL, offsetstore.ErrGroupNotFound) {
		return errL
	}
	errP := s.primary.DeleteGroup(ctx, group)
	if errP != nil && !errors.Is(errP, offsetstore.ErrGroupNotFound) {
		return errP
	}
	if errL != nil && errP != nil {
		return errP
	}
	return nil
}

// ListGroups returns the union of both stores' groups.
func (s *Store) ListGroups(ctx context.Context) ([]string, error) {
	if err := s.check(ctx, "ListGroups", ""); err != nil {
		return nil, err
	}
	p, err := s.primary.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	l, err := s.legacy.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	all := append(slices.Clone(p), l...)
	slices.Sort(all)
	return slices.Compact(all), nil
}

// CopyGroup copies every legacy offset of group that the primary lacks into the primary, for
// migrations that do not want to wait for reads. It is FetchAll without the result.
func (s *Store) CopyGroup(ctx context.Context, group string) error {
	_, err := s.FetchAll(ctx, group)
	return err
}

// ExpireOffsets implements offsetstore.Expirer when the primary does: it expires offsets in
// the primary, and removes from the legacy store the same partitions plus the legacy-only
// offsets expired chooses, so an expired offset is never copied back. Without a primary
// Expirer it returns an error matching errors.ErrUnsupported.
func (s *Store) ExpireOffsets(ctx context.Context, group string, expired func(offsetstore.TopicPartition, offsetstore.Offset) bool) (map[offsetstore.TopicPartition]offsetstore.Offset, error) {
	if err := s.check(ctx, "ExpireOffsets", group); err != nil {
		return nil, err
	}
	ex, ok := s.primary.(offsetstore.Expirer)
	if !ok {
		return nil, &offsetstore.Error{Op: "ExpireOffsets", Group: group, Err: errors.ErrUnsupported}
	}
	mu := s.lock(group)
	mu.Lock()
	defer mu.Unlock()
	legacyAll, err := s.legacy.FetchAll(ctx, group)
	if err != nil {
		return nil, err
	}
	out, err := ex.ExpireOffsets(ctx, group, expired)
	if err != nil {
		return out, err
	}
	primaryAll, err := s.primary.FetchAll(ctx, group)
	if err != nil {
		return out, err
	}
	var drop []offsetstore.TopicPartition
	for tp, o := range legacyAll {
		if _, gone := out[tp]; gone {
			drop = append(drop, tp)
			continue
		}
		if _, shadowed := primaryAll[tp]; !shadowed && expired(tp, o) {
			drop = append(drop, tp)
			out[tp] = o
		}
	}
	if len(drop) > 0 {
		if err := s.legacy.Delete(ctx, group, drop); err != nil {
			return out, err
		}
	}
	return out, nil
}

// CommitIfAbsent implements offsetstore.Inserter: it stores each offset whose partition has
// nothing in either store.
func (s *Store) CommitIfAbsent(ctx context.Context, group string, offsets map[offsetstore.TopicPartition]offsetstore.Offset) error {
	if err := s.check(ctx, "CommitIfAbsent", group); err != nil {
		return err
	}
	keys := offsetstore.SortedPartitions(offsets)
	if _, err := s.Fetch(ctx, group, keys); err != nil { // copies legacy values up first
		return err
	}
	if s.ins != nil {
		return s.ins.CommitIfAbsent(ctx, group, offsets)
	}
	mu := s.lock(group)
	mu.Lock()
	defer mu.Unlock()
	now, err := s.primary.Fetch(ctx, group, keys)
	if err != nil {
		return err
	}
	todo := make(map[offsetstore.TopicPartition]offsetstore.Offset, len(offsets))
	for tp, o := range offsets {
		if _, ok := now[tp]; !ok {
			todo[tp] = o
		}
	}
	return s.primary.Commit(ctx, group, todo)
}

// Close closes both stores unless Options.KeepOpen is set. It is idempotent.
func (s *Store) Close() error {
	if s.closed.Swap(true) || s.opts.KeepOpen {
		return nil
	}
	return errors.Join(s.primary.Close(), s.legacy.Close())
}
