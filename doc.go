// Package offsetkit is a library of Kafka consumer-offset management primitives for Go
// programs that speak the Kafka wire protocol over their own storage. This root package holds
// documentation only; the code lives in its packages:
//
//   - [github.com/offsetkit/offsetkit/offsetstore]: the Store interface, its types and errors,
//     the contract every backend obeys.
//   - [github.com/offsetkit/offsetkit/offsetstore/storetest]: the exported conformance suite
//     every Store runs.
//   - [github.com/offsetkit/offsetkit/memstore]: a thread-safe in-memory Store, the embedded
//     default.
//   - [github.com/offsetkit/offsetkit/protocol]: handlers for OffsetCommit, OffsetFetch,
//     OffsetDelete and TxnOffsetCommit built on franz-go's kmsg, which a gateway wires into its
//     own connection loop, with the frame, header and ApiVersions helpers that loop needs, and
//     hooks for its group coordinator, transaction coordinator, authorization and topic
//     metadata. TxnOffsetCommit is served over a store that keeps pending transactional
//     offsets (offsetstore.PendingCommitter; memstore and filerstore do).
//   - [github.com/offsetkit/offsetkit/groupcoord]: a classic (JoinGroup/SyncGroup) group
//     coordinator that implements the protocol package's GroupValidator, so that offset
//     commits are checked against live membership as Kafka checks them.
//   - [github.com/offsetkit/offsetkit/txncoord]: a transaction coordinator for offsets-only
//     transactions (InitProducerId, AddOffsetsToTxn, AddPartitionsToTxn, EndTxn, timeouts),
//     the TxnValidator of a gateway serving exactly-once consumers.
//   - [github.com/offsetkit/offsetkit/retention]: Kafka's offset expiry
//     (offsets.retention.minutes), a sweeper over any store with the optional Expirer
//     capability, with the group's state supplied by the gateway's coordinator.
//   - [github.com/offsetkit/offsetkit/migrate]: a store that serves from a primary store and
//     falls back to a legacy one, copying on read, so a deployment switches stores without
//     losing an offset.
//   - github.com/offsetkit/offsetkit/filerstore (a module of its own): offsets persisted in a
//     SeaweedFS filer, in the layout the SeaweedFS Kafka gateway already uses
//     (docs/filer-layout.md in the repository).
//   - github.com/offsetkit/offsetkit/examples (a module of its own): a Kafka-wire gateway that
//     real Kafka clients commit and fetch offsets against.
//
// The repository's docs folder describes what the code follows: docs/kafka-semantics.md
// (Kafka's offset APIs as implemented: versions, check order, error codes, retention),
// docs/filer-layout.md and docs/reliability.md (how RELIABILITY.md is measured).
//
// # Errors
//
// Stores return errors matched with errors.Is against offsetstore.ErrClosed,
// offsetstore.ErrGroupNotFound and offsetstore.ErrInvalid; context errors pass through; every
// other store error is a retriable backend failure. An absent offset is never an error, and a
// storage failure is never reported as an absent offset. The protocol package turns store
// failures into retriable Kafka error codes and Kafka-level failures into the error codes of
// the response; a Go error from a handler means no answer is possible and the gateway should
// close the connection, as Kafka does.
//
// # Concurrency
//
// Every Store and the protocol Handler are safe for concurrent use. Hooks a gateway supplies
// must be too. No package keeps mutable package-level state, and every goroutine a type starts
// is stopped by its Close method.
//
// # Dependencies
//
// The root module needs only the standard library, github.com/twmb/franz-go/pkg/kmsg,
// github.com/twmb/franz-go (for pkg/kerr) and, in tests only, github.com/stretchr/testify;
// deps_test.go checks it. SeaweedFS and gRPC stay inside the filerstore module, Kafka client
// libraries inside examples.
package offsetkit
