package protocol

import (
	"context"
	"errors"
)

// This file declares the hooks a gateway plugs into a Handler. Every hook is optional, is a
// one-method interface with a Func adapter, and must be safe for concurrent use and fast.
// A hook returns error values, never typed nil pointers (see kerr.TypedErrorForCode).

// GroupOp names the offset API a GroupValidator is consulted for.
type GroupOp int8

// The offset APIs that consult a GroupValidator.
const (
	OpOffsetCommit    GroupOp = iota + 1 // OffsetCommit (key 8)
	OpOffsetFetch                        // OffsetFetch (key 9), v9+ member checks
	OpOffsetDelete                       // OffsetDelete (key 47)
	OpTxnOffsetCommit                    // TxnOffsetCommit (key 28)
)

// GroupRequest is what a GroupValidator is asked about: one group of one request, after the
// request layer's checks, at the point where Kafka's request layer hands the request to the
// group coordinator:
//
//   - OpOffsetCommit: only when at least one partition passed the ACL and existence checks (a
//     commit with none never reaches the coordinator);
//   - OpOffsetFetch: for every group whose DESCRIBE ACL passed, at every version. For v0-v8
//     MemberID is nil and Generation -1; classic groups ignore member fields on fetch, so a
//     validator refuses a fetch only with coordinator errors (NOT_COORDINATOR,
//     COORDINATOR_LOAD_IN_PROGRESS, ...) or, for v9+ KIP-848 groups, UNKNOWN_MEMBER_ID or
//     STALE_MEMBER_EPOCH;
//   - OpOffsetDelete: after the DELETE ACL and a non-empty group id, even when no partition
//     passed the topic checks, so that group errors still surface;
//   - OpTxnOffsetCommit: as OpOffsetCommit, after a non-empty group id and the
//     TxnValidator's acceptance; MemberID, InstanceID and Generation from v3 (KIP-447), "",
//     nil and -1 before. Kafka validates it like OffsetCommit but skips two rules
//     (ClassicGroup.validateOffsetCommit with isTransactional): generation -1 with an empty
//     member id and no instance id is accepted on a group with members, and a group completing
//     a rebalance is accepted; a validator applies the same exemptions.
type GroupRequest struct {
	Op      GroupOp
	Version int16 // the request's version
	Group   string
	// MemberID is the request's member id. For OffsetFetch v9+ it is nil when the client sent
	// null; for commits it is never nil.
	MemberID *string
	// InstanceID is the static member's group.instance.id, nil when absent or null.
	InstanceID *string
	// Generation is the generation id (classic groups) or member epoch (KIP-848), -1 when the
	// request carries none.
	Generation int32
	// Topics, for OpOffsetDelete, are the topics whose partitions passed the request layer's
	// checks; the validator reports which of them the group is subscribed to.
	Topics []string
}

// GroupResult is a GroupValidator's answer for a request it accepts.
type GroupResult struct {
	// Subscribed lists, for OpOffsetDelete, the topics of GroupRequest.Topics the group is
	// subscribed to: their partitions get GROUP_SUBSCRIBED_TO_TOPIC. Ignored for other ops.
	Subscribed []string

	// Fenced makes the Handler's store write for this acceptance conditional on the group's
	// fence being Fence at the moment the store applies it (offsetstore.Fencer): the
	// coordinator moves the fence whenever the facts it accepted the request on change (a
	// new generation, a new owner, a write that timed out), so a write accepted under old
	// facts can never land after newer ones. When the store refuses the write with
	// offsetstore.ErrFenced the Handler asks the GroupValidator again, as if the request had
	// arrived after the change, and answers with its new verdict (ILLEGAL_GENERATION,
	// REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID, NOT_COORDINATOR, GROUP_SUBSCRIBED_TO_TOPIC,
	// ...) or writes again under the new fence; after a few such rounds it answers the
	// retriable code of a store failure. Over a store that is not an offsetstore.Fencer the
	// write is made unconditionally: a coordinator that fences must check the store first.
	// Fenced is ignored for OffsetFetch, which writes nothing.
	Fenced bool
	// Fence is the group fence epoch the request was accepted under; see Fenced.
	Fence int64
	// Done, when not nil, is called exactly once after the Handler is finished with the store
	// write this acceptance covers: with nil when the write succeeded or nothing was written,
	// and otherwise with the write's error (offsetstore.ErrFenced, a timeout, a store
	// failure). A coordinator uses it to track writes in flight: to hold a change of
	// generation until the writes accepted under the old one have returned (over a store
	// without fences), or to move the fence after a write failed, so that a write that
	// timed out in the Handler but is still travelling to the store can never land after
	// the next write is acknowledged. Done must not block for long.
	Done func(err error)
}

// GroupValidator is the group coordinator's say in an offset request: member, generation,
// instance-id and state checks, which only the coordinator can make.
//
// ValidateGroup returns nil to accept. To refuse, it returns a *kerr.Error (or an error
// wrapping one), such as kerr.UnknownMemberID, kerr.IllegalGeneration, kerr.RebalanceInProgress,
// kerr.FencedInstanceID, kerr.NotCoordinator, kerr.NonEmptyGroup or kerr.GroupIDNotFound, and the
// Handler places that code where Kafka places a group error for the API and version. Returning
// ErrNoActiveGroup tells the Handler the coordinator has no members for the group, so the
// Handler applies Kafka's rules for an Empty or missing group itself, consulting the store to
// tell the two apart. Any other error is a coordinator failure, answered with
// COORDINATOR_NOT_AVAILABLE. A typed-nil *kerr.Error (or one with code 0) is taken as
// acceptance, and logged.
type GroupValidator interface {
	ValidateGroup(ctx context.Context, req GroupRequest) (GroupResult, error)
}

// GroupValidatorFunc adapts a function to a GroupValidator.
type GroupValidatorFunc func(ctx context.Context, req GroupRequest) (GroupResult, error)

// ValidateGroup calls f(ctx, req).
func (f GroupValidatorFunc) ValidateGroup(ctx context.Context, req GroupRequest) (GroupResult, error) {
	return f(ctx, req)
}

// ErrNoActiveGroup is returned by a GroupValidator for a group that has no members and no
// coordinator state (a group only its offsets make exist, or none at all). The Handler then
// applies the rules a Handler without a GroupValidator applies.
var ErrNoActiveGroup = errors.New("protocol: group has no active members")

// ResourceType is the kind of resource an authorization check is about.
type ResourceType int8

// Resource types checked by the offset APIs.
const (
	ResourceGroup           ResourceType = iota + 1 // a consumer group id
	ResourceTopic                                   // a topic name
	ResourceTransactionalID                         // a transactional id
)

// Operation is the ACL operation an authorization check is about.
type Operation int8

// ACL operations used by the offset APIs, as KafkaApis checks them: READ on the group and
// topics for commits, DESCRIBE for fetches, DELETE on the group for OffsetDelete, WRITE on a
// transactional id.
const (
	OperationRead     Operation = iota + 1 // READ
	OperationWrite                         // WRITE
	OperationDescribe                      // DESCRIBE
	OperationDelete                        // DELETE
)

// Action is one authorization question: may the request's principal perform Operation on the
// resource of the given type and name? The principal is the gateway's business: it travels in
// the request's context.
type Action struct {
	APIKey       int16 // the request's API key
	Operation    Operation
	ResourceType ResourceType
	Name         string
}

// Authorizer decides ACL checks. Authorize reports whether the action is allowed.
type Authorizer interface {
	Authorize(ctx context.Context, a Action) bool
}

// AuthorizerFunc adapts a function to an Authorizer.
type AuthorizerFunc func(ctx context.Context, a Action) bool

// Authorize calls f(ctx, a).
func (f AuthorizerFunc) Authorize(ctx context.Context, a Action) bool { return f(ctx, a) }

// TopicChecker reports the partition count of a topic, for the existence checks Kafka makes on
// OffsetCommit, TxnOffsetCommit and OffsetDelete. PartitionCount returns (n, true) for a topic
// with partitions 0..n-1 and (0, false) for an unknown topic.
type TopicChecker interface {
	PartitionCount(ctx context.Context, topic string) (int32, bool)
}

// TopicCheckerFunc adapts a function to a TopicChecker.
type TopicCheckerFunc func(ctx context.Context, topic string) (int32, bool)

// PartitionCount calls f(ctx, topic).
func (f TopicCheckerFunc) PartitionCount(ctx context.Context, topic string) (int32, bool) {
	return f(ctx, topic)
}

// TopicRef names a topic by name, by id, or both.
type TopicRef struct {
	Name string
	ID   [16]byte
}

// TopicResolver maps topic ids to names and back, for OffsetCommit v10 and OffsetFetch v10,
// which carry topic ids instead of names. ResolveTopic is given a TopicRef with exactly one of
// Name or ID set and returns it with both set, or false when the topic is unknown. Without a
// TopicResolver a Handler serves and advertises at most v9 of those APIs.
type TopicResolver interface {
	ResolveTopic(ctx context.Context, ref TopicRef) (TopicRef, bool)
}

// TopicResolverFunc adapts a function to a TopicResolver.
type TopicResolverFunc func(ctx context.Context, ref TopicRef) (TopicRef, bool)

// ResolveTopic calls f(ctx, ref).
func (f TopicResolverFunc) ResolveTopic(ctx context.Context, ref TopicRef) (TopicRef, bool) {
	return f(ctx, ref)
}

// TxnRequest is what a TxnValidator is asked about: the producer of one TxnOffsetCommit, after
// the request layer's checks and before the group's, at the point where Kafka verifies the
// transaction with its transaction coordinator (KIP-890).
type TxnRequest struct {
	Version         int16 // the TxnOffsetCommit's version
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
	Group           string
}

// TxnValidator is the transaction coordinator's say in a TxnOffsetCommit: whether ProducerID
// and ProducerEpoch are the transactional id's current producer, with a transaction in
// progress to which the group's offsets were added (AddOffsetsToTxn). From version 5 a
// coordinator on Kafka's transaction protocol 2 adds the group itself instead, as Kafka does.
//
// ValidateTxn returns nil to accept. To refuse it returns the coordinator's verdict as a
// *kerr.Error (or an error wrapping one), the codes Kafka's transaction coordinator gives a
// verification: kerr.InvalidProducerIDMapping (no such producer for the transactional id),
// kerr.ProducerFenced (an older epoch), kerr.TransactionAbortable (no transaction in progress,
// or the group not in it), kerr.ConcurrentTransactions (the transaction is completing), or a
// coordinator error. The Handler answers it the way Kafka's broker answers a failed
// verification: PRODUCER_FENCED as INVALID_PRODUCER_EPOCH, TRANSACTION_ABORTABLE as
// INVALID_TXN_STATE below version 4 (clients before KIP-890 do not know it). Any other error
// is answered with COORDINATOR_NOT_AVAILABLE.
type TxnValidator interface {
	ValidateTxn(ctx context.Context, req TxnRequest) error
}

// TxnValidatorFunc adapts a function to a TxnValidator.
type TxnValidatorFunc func(ctx context.Context, req TxnRequest) error

// ValidateTxn calls f(ctx, req).
func (f TxnValidatorFunc) ValidateTxn(ctx context.Context, req TxnRequest) error { return f(ctx, req) }
