package offsetstore

import (
	"context"
	"errors"
	"fmt"
)

// This file declares the optional capabilities a Store may implement. Callers discover them
// with a type assertion; each documents what a caller does when the store lacks it. A wrapper
// that implements one of these methods on behalf of a store that lacks it returns an error
// matching errors.ErrUnsupported, which callers treat exactly like a missing capability.

// Expirer is the capability retention sweeps need: deleting offsets chosen by a predicate
// without racing with commits.
//
// ExpireOffsets calls expired for each stored offset of group and deletes those for which it
// returns true, each only if it is still the value expired was shown: an offset committed
// after expired saw the old value is never deleted. It returns the offsets it deleted. expired
// must be fast and must not call the store. Deleting a group's last offset may remove the
// group (it then leaves ListGroups).
//
// Fallback: without an Expirer, offsets are never expired. A sweep built from FetchAll and
// Delete could delete a commit that landed between the two calls, losing an acknowledged
// offset, so package retention refuses stores without this capability.
type Expirer interface {
	ExpireOffsets(ctx context.Context, group string, expired func(TopicPartition, Offset) bool) (map[TopicPartition]Offset, error)
}

// Inserter is the capability migrations need: storing an offset only where none is stored.
//
// CommitIfAbsent stores each offset of the batch whose partition has nothing stored, and
// leaves partitions that already hold an offset unchanged, atomically per partition with
// respect to Commit. As with Commit, a failed call may have applied any subset.
//
// Fallback: without an Inserter a caller must serialise its own writers (package migrate
// does, per group, within one process) and accept that a writer in another process may be
// overwritten.
type Inserter interface {
	CommitIfAbsent(ctx context.Context, group string, offsets map[TopicPartition]Offset) error
}

// FetchIntoer is the capability a hot read path needs: Fetch into slices the caller owns, so
// that answering a request allocates nothing in the store.
//
// FetchInto looks up each of partitions in group and, for every index i of partitions, sets
// found[i] to whether an offset is stored and dst[i] to that offset (the zero Offset when none
// is): exactly what Fetch would return for it, with the same errors, including ErrInvalid for
// a negative partition before anything is read. A partition named twice is answered at both
// indexes. dst and found must be at least as long as partitions, else FetchInto returns an
// error matching ErrInvalid; their elements beyond len(partitions) are left alone. FetchInto
// keeps none of its arguments after it returns. On error the contents of dst and found are
// unspecified and must not be used: an error is never "no offset".
//
// Fallback: without a FetchIntoer, or when FetchInto returns an error matching
// errors.ErrUnsupported, a caller uses Fetch; the helper function FetchInto does exactly that.
type FetchIntoer interface {
	FetchInto(ctx context.Context, group string, partitions []TopicPartition, dst []Offset, found []bool) error
}

// FetchInto fills dst and found for partitions as FetchIntoer.FetchInto documents, through
// s's FetchInto when s implements FetchIntoer (and does not answer errors.ErrUnsupported), and
// through s.Fetch otherwise.
func FetchInto(ctx context.Context, s Store, group string, partitions []TopicPartition, dst []Offset, found []bool) error {
	if fi, ok := s.(FetchIntoer); ok {
		err := fi.FetchInto(ctx, group, partitions, dst, found)
		if !errors.Is(err, errors.ErrUnsupported) {
			return err
		}
	}
	if err := ValidateFetchInto(partitions, dst, found); err != nil {
		return &Error{Op: "FetchInto", Group: group, Err: err}
	}
	m, err := s.Fetch(ctx, group, partitions)
	if err != nil {
		return err
	}
	for i, tp := range partitions {
		dst[i], found[i] = m[tp]
	}
	return nil
}

// SliceCommitter is the capability a hot write path needs: Commit from slices the caller owns,
// so that a request's batch need not be built as a map first.
//
// CommitSlice stores offsets[i] for partitions[i], for every i, exactly as Commit stores the
// map that assigning them in order builds: a partition named twice gets the later offset, and
// the same rules (ErrInvalid for a negative partition before anything is stored, any subset
// on failure, contexts, Close) apply. partitions and offsets must have the same length, else
// CommitSlice returns an error matching ErrInvalid and stores nothing. It keeps neither slice
// after it returns.
//
// Fallback: without a SliceCommitter, or when CommitSlice returns an error matching
// errors.ErrUnsupported, a caller builds the map and uses Commit; the helper function
// CommitSlice does exactly that.
type SliceCommitter interface {
	CommitSlice(ctx context.Context, group string, partitions []TopicPartition, offsets []Offset) error
}

// CommitSlice stores offsets[i] for partitions[i] as SliceCommitter.CommitSlice documents,
// through s's CommitSlice when s implements SliceCommitter (and does not answer
// errors.ErrUnsupported), and through s.Commit otherwise.
func CommitSlice(ctx context.Context, s Store, group string, partitions []TopicPartition, offsets []Offset) error {
	if sc, ok := s.(SliceCommitter); ok {
		err := sc.CommitSlice(ctx, group, partitions, offsets)
		if !errors.Is(err, errors.ErrUnsupported) {
			return err
		}
	}
	if len(partitions) != len(offsets) {
		return &Error{Op: "CommitSlice", Group: group, Err: fmt.Errorf("%w: CommitSlice of %d partitions with %d offsets",
			ErrInvalid, len(partitions), len(offsets))}
	}
	m := make(map[TopicPartition]Offset, len(partitions))
	for i, tp := range partitions {
		m[tp] = offsets[i]
	}
	return s.Commit(ctx, group, m)
}
