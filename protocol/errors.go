package protocol

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Errors returned as Go errors, matched with errors.Is. A Go error from a Handler method means
// no Kafka response is possible; a gateway answers it by closing the connection, as Kafka does
// for a version it has not enabled. Every Kafka-level failure is an error code inside a response.
var (
	// ErrUnsupported is returned for an API key or version the Handler does not serve (or, from
	// ReadRequestHeader and ReadRequest, one kmsg cannot decode). It matches
	// [errors.ErrUnsupported] too, as the unsupported errors of the other offsetkit packages
	// do.
	ErrUnsupported error = unsupportedError{}
	// ErrMalformed is returned for bytes that do not decode as what their header says, and
	// for a nil request passed to any Handler method.
	ErrMalformed = errors.New("protocol: malformed request")
)

// errNilRequest is the one error every Handler method returns for a nil request.
var errNilRequest = fmt.Errorf("%w: nil request", ErrMalformed)

// unsupportedError is the type of ErrUnsupported: its own message, wrapping
// errors.ErrUnsupported.
type unsupportedError struct{}

func (unsupportedError) Error() string { return "protocol: unsupported API key or version" }

// Unwrap returns errors.ErrUnsupported.
func (unsupportedError) Unwrap() error { return errors.ErrUnsupported }

// StoreErrorCode maps a store failure on a write (OffsetCommit, OffsetDelete) to the Kafka
// error code a client sees. The result is always a retriable coordinator error, never NONE and
// never UNKNOWN_SERVER_ERROR (which kerr and most clients treat as fatal):
//
//   - An error wrapping a *kerr.Error (a store may speak Kafka codes) is remapped the way
//     Kafka's coordinator remaps a failed offsets-log write (CoordinatorOperationExceptionHelper):
//     REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS and UNKNOWN_TOPIC_OR_PARTITION become
//     COORDINATOR_NOT_AVAILABLE; NOT_LEADER_OR_FOLLOWER and KAFKA_STORAGE_ERROR become
//     NOT_COORDINATOR; NETWORK_EXCEPTION becomes COORDINATOR_LOAD_IN_PROGRESS; the three
//     coordinator codes themselves pass through.
//   - Everything else, including context.DeadlineExceeded, context.Canceled,
//     offsetstore.ErrClosed and unknown backend errors, is COORDINATOR_NOT_AVAILABLE.
//
// A timeout maps to COORDINATOR_NOT_AVAILABLE rather than REQUEST_TIMED_OUT because Kafka never
// returns REQUEST_TIMED_OUT from a commit: its coordinator turns a timed-out offsets write into
// COORDINATOR_NOT_AVAILABLE, which every client retries after rediscovering the coordinator.
// A nil err is treated like an unknown failure, so a mistaken call can never report success.
func StoreErrorCode(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) && ke != nil {
		switch ke.Code {
		case kerr.CoordinatorNotAvailable.Code, kerr.NotCoordinator.Code, kerr.CoordinatorLoadInProgress.Code:
			return ke.Code
		case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
			return kerr.NotCoordinator.Code
		case kerr.NetworkException.Code:
			return kerr.CoordinatorLoadInProgress.Code
		}
	}
	return kerr.CoordinatorNotAvailable.Code
}

// FetchErrorCode maps a store failure on OffsetFetch to the group (or, for v0-v1, partition)
// error a client sees. It is StoreErrorCode with COORDINATOR_NOT_AVAILABLE replaced by
// NOT_COORDINATOR: Kafka does the same on its fetch path that reads the offsets log
// (GroupCoordinatorService.fetchOffsets with RequireStable), because Java clients older than
// 3.9 fail an OffsetFetch on COORDINATOR_NOT_AVAILABLE but retry NOT_COORDINATOR after
// rediscovering the coordinator.
func FetchErrorCode(err error) int16 {
	if c := StoreErrorCode(err); c != kerr.CoordinatorNotAvailable.Code {
		return c
	}
	return kerr.NotCoordinator.Code
}

// hookErrorCode turns a GroupValidator's refusal into a Kafka code: the code of a *kerr.Error
// it wraps, else COORDINATOR_NOT_AVAILABLE. ok is false when err carries no refusal at all (a
// typed-nil *kerr.Error or a code of 0), which the Handler treats as acceptance.
// isKafkaError reports whether err is, or wraps, a *kerr.Error.
func isKafkaError(err error) bool {
	var ke *kerr.Error
	return errors.As(err, &ke)
}

func hookErrorCode(err error) (code int16, ok bool) {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		if ke == nil || ke.Code == 0 {
			return 0, false
		}
		return ke.Code, true
	}
	return kerr.CoordinatorNotAvailable.Code, true
}
