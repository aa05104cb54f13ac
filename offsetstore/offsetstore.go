// Package offsetstore defines the vocabulary every offsetkit backend speaks: the keys and values
// of committed Kafka consumer offsets, the Store interface that persists them, and the errors a
// Store returns.
//
// # The contract
//
// A Store maps (group, topic, partition) to an [Offset]. Every backend obeys these rules, and
// the conformance suite in package storetest checks each of them:
//
//   - Absent is not an error. A partition with no committed offset, and a group that never
//     committed, are simply missing from the maps that Fetch and FetchAll return. There is no
//     -1 sentinel inside a store; the protocol layer adds Kafka's -1 when it answers a client.
//   - An empty Commit (a nil or empty batch) stores nothing and creates nothing: the group
//     does not appear in ListGroups. A design that registers the group in an index before it
//     writes offsets must skip an empty batch.
//   - Last writer wins, per partition. Offsets may move backwards: Kafka does not forbid it and
//     neither does a store. A Commit that fails may have applied any subset of its batch;
//     retrying the whole batch is always safe.
//   - A storage error is never "no offset". If a backend cannot tell whether an offset exists it
//     returns an error; only a definite "not stored" makes a partition absent.
//   - Any string is a valid group id, including "" (Kafka accepts the empty group for commit and
//     fetch), and any string is a valid topic name: "a/b", "..", ".", "%2F", unicode, invalid
//     UTF-8, NUL bytes and 1,000-byte names included. Backends store such names without
//     collision between groups and without escaping their own namespace.
//   - Any partition from 0 to [math.MaxInt32] is valid; a negative partition is impossible and
//     gives [ErrInvalid] before anything is stored or deleted. Any offset is stored as given,
//     [math.MinInt64] and -1 included.
//   - Metadata is arbitrary bytes in a string: NUL bytes, invalid UTF-8 and 4 KiB (Kafka's
//     default limit) come back byte for byte. A backend that stores JSON text must
//     encode bytes a JSON string cannot carry (package filerstore adds a base64 field).
//   - No aliasing. A store copies what it is given and what it returns: the caller may modify a
//     map or slice it passed in, or got back, without affecting the store.
//   - Times are kept to the millisecond. CommitTime and ExpireTime come back Equal to what was
//     committed, truncated to the millisecond; a zero time stays zero.
//   - Every method is safe for concurrent use by multiple goroutines, and a Fetch that follows a
//     successful Commit on the same Store value observes it (read your writes).
//   - Every method honours its context. A call whose context is already done returns an error
//     that matches ctx.Err() with [errors.Is] and changes nothing.
//   - ListGroups lists the store's own namespace only (its directory, key prefix, table or
//     schema), never every group of a shared server: two stores over one server with different
//     namespaces see only their own groups.
//   - After Close every method returns an error matching [ErrClosed]. Close returns nil, every
//     time it is called: it is idempotent, bounded in time, and stops every goroutine the store
//     started. A backend whose client fails to close logs that failure instead of returning it.
//
// # Errors
//
// Errors are matched with [errors.Is]: [ErrClosed], [ErrGroupNotFound] (DeleteGroup of a group
// with nothing stored) and [ErrInvalid] (an impossible key). Context errors pass through. Every
// other error is a backend failure that callers must treat as retriable; the protocol package
// maps it to a retriable Kafka error code, never to success and never to "no offset".
//
// An error that matches one of the three sentinels is an [*Error] whose Op is the name of the
// method that failed ("Commit", "Fetch", "FetchAll", "Delete", "DeleteGroup", "ListGroups", or
// the capability's method, such as "ExpireOffsets") and whose Group is the group argument (""
// for ListGroups), so that errors.As finds which call failed. Backends wrap their other errors
// in [*Error] the same way.
//
// # Helpers for backends
//
// [ValidatePartitions] and [ValidateOffsets] give the ErrInvalid a backend must return for a
// negative partition; [Normalize] truncates an Offset's times to the millisecond as the
// contract requires; [SortedPartitions] orders a map's keys, for deterministic batches. The
// single-partition helpers ([CommitOne], [FetchOne]) work over any Store.
//
// # Writing a backend
//
// A new backend (Redis, Postgres, ...) lives in its own package, or its own module when it
// brings heavy dependencies, as package filerstore does. It proves itself with
// storetest.Run over a harness that gives each rule a fresh namespace; the storetest package
// documentation and its Example show a skeleton.
//
// # Growth
//
// The Store interface does not grow. New capabilities are optional interfaces that a backend
// may implement and callers discover with a type assertion, each documenting what a caller does
// when the backend lacks it, in the style of database/sql/driver and io/fs. Wrappers of a Store
// must forward the optional interfaces of the store they wrap.
package offsetstore

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// TopicPartition names one partition of one topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String returns "topic/partition", for logs and error messages.
func (tp TopicPartition) String() string {
	return tp.Topic + "/" + strconv.FormatInt(int64(tp.Partition), 10)
}

// Offset is a committed consumer offset with everything Kafka stores beside it.
type Offset struct {
	// Offset is the committed position: the next record the group will consume. Any value is
	// stored as given, negative ones included (Kafka stores them verbatim).
	Offset int64
	// LeaderEpoch is the leader epoch of the committed record (KIP-320), or -1 when unknown.
	LeaderEpoch int32
	// Metadata is the client's metadata: arbitrary bytes (NUL and invalid UTF-8 included) in a
	// string, stored and returned byte for byte. Kafka turns a null into "".
	Metadata string
	// CommitTime is when the offset was committed (the broker's clock, or an OffsetCommit v1
	// timestamp). Stored to the millisecond.
	CommitTime time.Time
	// ExpireTime is an explicit expiry set by OffsetCommit v2-v4 retention_time_ms. The zero
	// time means "no per-offset expiry": broker-wide retention rules apply.
	ExpireTime time.Time
}

// Store persists committed offsets by group. See the package documentation for the rules every
// implementation follows.
type Store interface {
	// Commit stores every offset in the batch for group, replacing what was stored (last
	// writer wins). On error any subset may have been stored; retrying the batch is safe. An
	// empty batch stores nothing and creates no group.
	Commit(ctx context.Context, group string, offsets map[TopicPartition]Offset) error

	// Fetch returns the stored offsets of the requested partitions. Partitions with nothing
	// stored are absent from the result, which is never nil on success.
	Fetch(ctx context.Context, group string, partitions []TopicPartition) (map[TopicPartition]Offset, error)

	// FetchAll returns every stored offset of group: an empty, non-nil map for a group that
	// has none.
	FetchAll(ctx context.Context, group string) (map[TopicPartition]Offset, error)

	// Delete removes the stored offsets of the given partitions. Partitions with nothing
	// stored are ignored; deleting nothing is not an error.
	Delete(ctx context.Context, group string, partitions []TopicPartition) error

	// DeleteGroup removes every offset of group. It returns an error matching
	// ErrGroupNotFound when the group has nothing stored.
	DeleteGroup(ctx context.Context, group string) error

	// ListGroups returns every group of the store's own namespace with at least one stored
	// offset, each once, in no particular order. A backend that keeps a group's namespace
	// after Delete removed its last offset may also list that group until DeleteGroup removes
	// it.
	ListGroups(ctx context.Context) ([]string, error)

	// Close releases the store's resources and stops its goroutines. It returns nil, every
	// time it is called; every other method returns ErrClosed afterwards.
	Close() error
}

// Errors a Store returns, matched with errors.Is. Their messages carry no package prefix: a
// Store returns them wrapped in an [*Error], whose message starts with "offsetstore: " and names
// the method and group, as [io/fs.PathError] does for the errors of package fs.
var (
	// ErrClosed is returned by every method of a closed Store.
	ErrClosed = errors.New("store is closed")
	// ErrGroupNotFound is returned by DeleteGroup for a group with nothing stored.
	ErrGroupNotFound = errors.New("group not found")
	// ErrInvalid is returned for a key no store can hold, such as a negative partition.
	ErrInvalid = errors.New("invalid argument")
)

// Error records a failed Store operation: which method, which group, and why.
type Error struct {
	Op    string // the Store method, such as "Commit"
	Group string // the group the call was for; "" for ListGroups (and for the group "")
	Err   error  // the underlying error
}

// Error implements the error interface.
func (e *Error) Error() string {
	return "offsetstore: " + e.Op + " group " + strconv.Quote(e.Group) + ": " + errString(e.Err)
}

// Unwrap returns the underlying error, so errors.Is and errors.As see through an *Error.
func (e *Error) Unwrap() error { return e.Err }

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
