package offsetstore

import "context"

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
