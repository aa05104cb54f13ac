// Package protocol answers Kafka's consumer-offset APIs over any offsetstore.Store, the way
// Apache Kafka does, for a gateway that owns its own connection loop.
//
// A [Handler] serves OffsetCommit (key 8) v0-v10, OffsetFetch (key 9) v0-v10, including the
// v8+ multi-group form and null topics meaning "all", and OffsetDelete (key 47) v0. Version 10
// of the first two carries topic ids and is served (and advertised by [Handler.APIVersions])
// only when [Options].TopicIDs can resolve them. TxnOffsetCommit (key 28) v0-v6 (v6 also with
// topic ids) is served when [Options].Transactions checks producers against a transaction
// coordinator and the store keeps pending offsets (offsetstore.PendingCommitter): a
// transaction's offsets stay pending, invisible to OffsetFetch and UNSTABLE_OFFSET_COMMIT to
// one that requires stable offsets, until [Handler.CompleteTransaction] commits or aborts
// them.
//
// Each API is one file (NN_name.go, after its API key) and one row of the dispatch table in
// api.go, which APIVersions, Handle, HandleBody and the Observer all read.
//
// Kafka 4 no longer enables OffsetCommit v0-v1 and OffsetFetch v0, and ZooKeeper-era brokers
// kept v0 offsets apart from the rest. A Handler serves those versions from the same store as
// the others, with v1's commit timestamps honoured (as Kafka 3.x's coordinator did), so that
// old clients keep working.
//
// # Entry points
//
// A gateway picks the level that fits its codec:
//
//   - Typed: [Handler.OffsetCommit], [Handler.OffsetFetch] and [Handler.OffsetDelete] take and
//     return kmsg structs; [Handler.Handle] dispatches any kmsg.Request; and because a
//     *Handler is a kmsg.Requestor, in-process callers can write
//     kmsg.NewPtrOffsetFetchRequest().RequestWith(ctx, h).
//   - Frames: [ReadFrame] reads a size-prefixed frame with a bounded size, [ReadRequest] parses
//     its header (to spec, including flexible header tags and the ApiVersions rules) and
//     decodes any request kmsg knows, and [AppendResponse] encodes the response frame. The
//     header functions work for every API key, so a gateway can use them for all its traffic.
//   - Bodies: [Handler.HandleBody] takes an API key, a version and the request body and
//     returns the encoded response body, the shape of the SeaweedFS gateway's handlers.
//
// # Behaviour
//
// The check order and the placement of every error code follow Kafka (see the methods'
// documentation for each API, and docs/kafka-semantics.md in the repository for the whole):
// group ACL, topic id resolution, topic ACL and existence, and only then, for the partitions
// that passed, the group coordinator's checks and the store.
// A commit whose partitions all fail the request-layer checks never reaches the group or the
// store, so it creates no group. A fetch of an unknown group or partition is
// {offset -1, leader epoch -1, metadata "", NONE}; metadata is never null.
//
// What Kafka's group coordinator decides (members, generations, rebalances, subscriptions,
// coordinator ownership) a gateway decides through the [GroupValidator] hook. Without one, or
// when it answers [ErrNoActiveGroup], the Handler applies Kafka's rules for a group with no
// members, and tells an Empty group from a missing one by whether the store holds any of its
// offsets: a commit with generation -1 is accepted (the way admin tools and assign()-mode
// consumers commit), and a commit that names a generation is refused.
//
// # Errors
//
// A Go error from a Handler means no Kafka response is possible: errors.Is(err,
// [ErrUnsupported]) for an API key or version the Handler does not serve (Kafka closes the
// connection in that case), errors.Is(err, [ErrMalformed]) for bytes that do not decode. Every
// other failure is an error code in the response. A store failure is a retriable coordinator
// code ([StoreErrorCode], [FetchErrorCode], or [Options].ErrorCode), never NONE, never
// UNKNOWN_SERVER_ERROR, and never an offset of -1; a commit whose write failed reports the
// failure on every partition it was to store.
//
// # Performance
//
// When the Store implements offsetstore.FetchIntoer or offsetstore.SliceCommitter (memstore
// does), an OffsetFetch or OffsetCommit reaches the store without a map being built for it;
// otherwise the Handler uses Fetch and Commit. HandleBody recycles the memory of the responses
// it encodes. BenchmarkRatio compares the Handler with kmsg's decode and encode alone.
//
// # Observability
//
// [Options].Observer, when set, is told about every request once, whichever entry point it
// came through: API key, version, latency, each non-zero error code in the response with how
// many partitions or groups carried it, the first store failure, and the Go error if no
// response was possible. It is the hook a gateway wires to its metrics and tracing; without
// one a Handler does no observation work (BenchmarkObserver).
//
// # Safety
//
// Every byte from the wire is decoded by kmsg, whose array lengths are checked against the
// bytes present before anything is allocated; the header and frame helpers here bound every
// length the same way. No input makes a function in this package panic; the fuzz tests check
// it.
//
// # Concurrency
//
// A Handler holds no connection state and starts no goroutines; all its methods are safe for
// concurrent use. Hooks are called from the goroutine that called the Handler, and must be
// safe for concurrent use. The order of requests on one connection is the gateway's to keep.
package protocol
