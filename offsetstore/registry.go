package offsetstore

import (
	"context"
	"errors"
	"fmt"
)

// Errors of the Registry capability and of stores that serve only some groups, matched with
// errors.Is.
var (
	// ErrConflict is returned by a conditional Registry write whose record is no longer at
	// the revision the write expected: the write was not applied.
	ErrConflict = errors.New("offsetstore: record changed")
	// ErrNotOwner is returned by a store that serves only the groups its process owns (such
	// as the one package ownership gives) for a group owned elsewhere, or by nobody at the
	// moment. Package protocol answers it with NOT_COORDINATOR, so clients look the
	// coordinator up again.
	ErrNotOwner = errors.New("offsetstore: group is owned by another process")
	// ErrLoading is returned by such a store for a group it has just taken over and is still
	// loading. Package protocol answers it with COORDINATOR_LOAD_IN_PROGRESS, which clients
	// retry after a backoff, as Kafka answers while it loads a group's offsets.
	ErrLoading = errors.New("offsetstore: group is loading")
)

// Record is one small named value in a Registry collection.
type Record struct {
	// Name is the record's name within its collection.
	Name string
	// Rev is the record's revision: an opaque token that changes with every write of the
	// record (a write of the same value included) and is never "" for a stored record.
	Rev string
	// Value is the record's content.
	Value []byte
}

// MaxRecordBytes bounds the Value of a Registry record.
const MaxRecordBytes = 64 << 10

// Registry is the capability several processes sharing one store need to coordinate: small
// records with compare-and-set, grouped in collections, kept beside the offsets (package
// ownership keeps the members of a gateway cluster and the owners of its group shards in
// them). Records are not offsets: they never appear in ListGroups, and no Store method
// touches them.
//
// The rules, checked by package storetest:
//
//   - Collection and record names are 1 to 128 bytes of ASCII letters, digits, '.', '-' and
//     '_', and neither "." nor ".."; any other name fails with ErrInvalid (ValidRecordName
//     checks one). A Value longer than MaxRecordBytes fails with ErrInvalid.
//   - Record returns the stored record of a collection, or ok false when there is none.
//     Records returns every record of a collection, each once, in no particular order, and
//     an empty slice for a collection never written.
//   - PutRecord stores value as the record name of collection only if the stored record's
//     revision is still prev, "" meaning that no record may be stored, and returns the new
//     revision, which differs from every revision the record had before (its revisions never
//     repeat, even across DeleteRecord). Otherwise it fails with ErrConflict and changes
//     nothing. The check and the write are one atomic step with respect to every other write
//     of the record, by any process using the store.
//   - DeleteRecord removes the record only if its revision is still prev, else fails with
//     ErrConflict (also when nothing is stored).
//   - Errors, contexts, Close and copying follow the Store contract; ErrConflict comes
//     wrapped in *Error like the other sentinels, with Op naming the method and Group the
//     collection and record ("collection/name").
//
// Fallback: without a Registry, processes sharing a store cannot divide groups between them;
// each must be configured to serve disjoint groups, or one process must serve them all.
type Registry interface {
	Record(ctx context.Context, collection, name string) (rec Record, ok bool, err error)
	Records(ctx context.Context, collection string) ([]Record, error)
	PutRecord(ctx context.Context, collection, name, prev string, value []byte) (rev string, err error)
	DeleteRecord(ctx context.Context, collection, name, prev string) error
}

// ValidRecordName reports whether name is a valid Registry collection or record name: 1 to
// 128 bytes of ASCII letters, digits, '.', '-' and '_', and neither "." nor "..".
func ValidRecordName(name string) bool {
	if name == "" || len(name) > 128 || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// CheckRecord returns an error matching ErrInvalid when one of names (a collection, a record)
// is not a valid record name or value is longer than MaxRecordBytes. Registry implementations
// call it before touching storage.
func CheckRecord(value []byte, names ...string) error {
	for _, name := range names {
		if !ValidRecordName(name) {
			return fmt.Errorf("%w: record or collection name %q", ErrInvalid, name)
		}
	}
	if len(value) > MaxRecordBytes {
		return fmt.Errorf("%w: record of %d bytes, over %d", ErrInvalid, len(value), MaxRecordBytes)
	}
	return nil
}
