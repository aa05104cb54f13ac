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
//   - Last writer wins, per partition. Offsets may move backwards: Kafka does not forbid it and
//     neither does a store. A Commit that fails may have applied any subset of its batch;
//     retrying the whole batch is always safe.
//   - A storage error is never "no offset". If a backend cannot tell whether an offset exists it
//     returns an error; only a definite "not stored" makes a partition absent.
//   - Any string is a valid group id, including "" (Kafka accepts the empty group for commit and
//     fetch), and any string is a valid topic name. Backends store hostile names ("a/b", "..",
//     ".", "%2F", unicode, 1,000-byte names) without collision between groups and without
//     escaping their own namespace. A negative partition is impossible and gives [ErrInvalid].
//   - No aliasing. A store copies what it is given and what it returns: the caller may modify a
//     map or slice it passed in, or got back, without affecting the store.
//   - Times are kept to the millisecond. CommitTime and ExpireTime come back Equal to what was
//     committed, truncated to the millisecond; a zero time stays zero.
//   - Every method is safe for concurrent use by multiple goroutines, and a Fetch that follows a
//     successful Commit on the same Store value observes it (read your writes).
//   - Every method honours its context. A call whose context is already done returns an error
//     that matches ctx.Err() with [errors.Is] and changes nothing.
//   - After Close every method returns an error matching [ErrClosed]. Close is idempotent and
//     bounded in time, and it stops every goroutine the store started.
//
// # Errors
//
// Errors are matched with [errors.Is]: [ErrClosed], [ErrGroupNotFound] (DeleteGroup of a group
// with nothing stored) and [ErrInvalid] (an impossible key). Context errors pass through. Every
// other error is a backend failure that callers must treat as retriable; the protocol package
// maps it to a retriable Kafka error code, never to success and never to "no offset". Backends
// wrap their errors in [*Error] to say which operation and group failed.
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
	// Metadata is the client's free-form metadata string. Kafka turns a null into "".
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
	// writer wins). On error any subset may have been stored; retrying the batch is safe.
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

	// ListGroups returns every group with at least one stored offset, each once, in no
	// particular order. A backend that keeps a group's namespace after Delete removed its last
	// offset may also list that group until DeleteGroup removes it.
	ListGroups(ctx context.Context) ([]string, error)

	// Close releases the store's resources and stops its goroutines. It is idempotent; every
	// other method returns ErrClosed afterwards.
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
