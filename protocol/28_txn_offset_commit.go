package protocol

// TxnOffsetCommit: v0-v6 (KIP-98, KIP-447, KIP-890, KIP-1319)
//
// * v1: the response is sent before throttling
// * v2: per-partition LeaderEpoch
// * v3: flexible versions; Generation, MemberID and InstanceID (KIP-447)
// * v4: TRANSACTION_ABORTABLE (KIP-890 part 1)
// * v5: transaction protocol 2 adds the group to the transaction implicitly (KIP-890 part 2)
// * v6: TopicID replaces Topic; GROUP_ID_NOT_FOUND for a generation to a missing group

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// TxnOffsetCommit answers a TxnOffsetCommit request (v0-v5, and v6 with Options.TopicIDs) the
// way Kafka does, checking in this order:
//
//  1. transactional id WRITE ACL: on refusal every partition gets
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED; then the group READ ACL
//     (GROUP_AUTHORIZATION_FAILED on every partition);
//  2. v6: topic ids that do not resolve get UNKNOWN_TOPIC_ID; per topic: READ ACL
//     (TOPIC_AUTHORIZATION_FAILED), then the topic's and each partition's existence
//     (UNKNOWN_TOPIC_OR_PARTITION); if no partition passes, the response is complete;
//  3. the group id "" gives INVALID_GROUP_ID on every forwarded partition;
//  4. the transaction (Options.Transactions, see TxnValidator for how its verdict is
//     answered per version);
//  5. the group (Options.Groups, else Kafka's rules for a group without members), as for
//     OffsetCommit but with Kafka's two exemptions for transactional commits: generation -1
//     with an empty member id is accepted on a group with members, and a group completing a
//     rebalance is no reason to refuse; a generation to a missing group is
//     ILLEGAL_GENERATION below v6 and GROUP_ID_NOT_FOUND from v6;
//  6. per partition, metadata longer than Options.MaxMetadataBytes gets
//     OFFSET_METADATA_TOO_LARGE;
//  7. the rest are staged in one offsetstore.PendingCommitter.StagePending for the
//     transaction's producer: invisible to OffsetFetch (and UNSTABLE_OFFSET_COMMIT to one
//     that requires stable offsets) until CompleteTransaction commits them.
//
// For v0 and v1, COORDINATOR_LOAD_IN_PROGRESS is answered as COORDINATOR_NOT_AVAILABLE, as
// Kafka does for producers that predate it. Every requested partition is answered exactly
// once, in request order.
func (h *Handler) TxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) (*kmsg.TxnOffsetCommitResponse, error) {
	if h.obs == nil {
		return h.txnOffsetCommit(ctx, req, nil)
	}
	start := time.Now()
	var c call
	resp, err := h.txnOffsetCommit(ctx, req, &c)
	h.observe(ctx, kmsg.TxnOffsetCommit.Int16(), versionOf(req), start, resp, &c, err)
	return resp, err
}

func (h *Handler) txnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest, c *call) (*kmsg.TxnOffsetCommitResponse, error) {
	if req == nil {
		return nil, fmt.Errorf("%w: nil TxnOffsetCommit request", ErrMalformed)
	}
	if h.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout)
		defer cancel()
	}
	if !h.serves(kmsg.TxnOffsetCommit, req.Version) {
		return nil, unsupported(kmsg.TxnOffsetCommit, req.Version)
	}
	resp := txnResponse(req)
	if h.txnRequestChecks(ctx, req, resp) == 0 {
		return resp, nil
	}
	greq, res, code := h.txnCoordinatorChecks(ctx, req, c)
	if code != 0 {
		setTxnCodes(resp, txnCode(req.Version, code))
		return resp, nil
	}
	offsets := h.txnOffsets(req, resp)
	if len(offsets) == 0 {
		release(res)
		return resp, nil
	}
	txn := offsetstore.PendingTxn{TransactionalID: req.TransactionalID, ProducerID: req.ProducerID, ProducerEpoch: req.ProducerEpoch}
	code = h.writeFenced(ctx, c, kmsg.TxnOffsetCommit, greq, res, func(ctx context.Context, fenced bool, fence int64) error {
		if fenced {
			return h.pending.StagePendingFenced(ctx, req.Group, fence, txn, offsets)
		}
		return h.pending.StagePending(ctx, req.Group, txn, offsets)
	})
	if code != 0 {
		setTxnCodes(resp, txnCode(req.Version, code))
	}
	return resp, nil
}

// txnResponse shapes the response: every requested partition, in request order, code NONE.
func txnResponse(req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	resp := kmsg.NewPtrTxnOffsetCommitResponse()
	resp.Version = req.Version
	resp.Topics = make([]kmsg.TxnOffsetCommitResponseTopic, len(req.Topics))
	for i := range req.Topics {
		t := &req.Topics[i]
		rt := &resp.Topics[i]
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		rt.Partitions = make([]kmsg.TxnOffsetCommitResponseTopicPartition, len(t.Partitions))
		for j := range t.Partitions {
			rt.Partitions[j].Partition = t.Partitions[j].Partition
		}
	}
	return resp
}

// txnRequestChecks makes the request layer's checks (steps 1-2) and returns how many
// partitions passed them: those whose code is still 0.
func (h *Handler) txnRequestChecks(ctx context.Context, req *kmsg.TxnOffsetCommitRequest, resp *kmsg.TxnOffsetCommitResponse) int {
	if !h.authorized(ctx, kmsg.TxnOffsetCommit, OperationWrite, ResourceTransactionalID, req.TransactionalID) {
		setTxnCodes(resp, kerr.TransactionalIDAuthorizationFailed.Code)
		return 0
	}
	if !h.authorized(ctx, kmsg.TxnOffsetCommit, OperationRead, ResourceGroup, req.Group) {
		setTxnCodes(resp, kerr.GroupAuthorizationFailed.Code)
		return 0
	}
	forwarded := 0
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		n, code := h.commitTopicCheck(ctx, kmsg.TxnOffsetCommit, req.Version >= 6, rt.TopicID, &rt.Topic)
		if code != 0 {
			setTxnTopicCodes(rt, code)
			continue
		}
		for j := range rt.Partitions {
			if p := rt.Partitions[j].Partition; p < 0 || p >= n {
				rt.Partitions[j].ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				forwarded++
			}
		}
	}
	return forwarded
}

// txnCoordinatorChecks makes the coordinator's checks (steps 3-5): the group id, the
// transaction and the group. It returns the group request and the validator's acceptance, or
// the code every forwarded partition gets.
func (h *Handler) txnCoordinatorChecks(ctx context.Context, req *kmsg.TxnOffsetCommitRequest, c *call) (GroupRequest, GroupResult, int16) {
	v := req.Version
	greq := GroupRequest{Op: OpTxnOffsetCommit, Version: v, Group: req.Group, Generation: -1}
	if req.Group == "" {
		return greq, GroupResult{}, kerr.InvalidGroupID.Code
	}
	err := h.txns.ValidateTxn(ctx, TxnRequest{Version: v, TransactionalID: req.TransactionalID,
		ProducerID: req.ProducerID, ProducerEpoch: req.ProducerEpoch, Group: req.Group})
	if code := txnVerdict(v, err); code != 0 {
		return greq, GroupResult{}, code
	}
	if v >= 3 {
		greq.Generation = req.Generation
	}
	if h.groups != nil {
		memberID := ""
		if v >= 3 {
			memberID = req.MemberID
			greq.InstanceID = req.InstanceID
		}
		greq.MemberID = &memberID
	}
	res, code := h.groupCode(ctx, c, kmsg.TxnOffsetCommit, greq)
	return greq, res, code
}

// txnVerdict is the code a TxnValidator's answer gives at version v (see TxnValidator), 0 to
// accept.
func txnVerdict(v int16, err error) int16 {
	if err == nil {
		return 0
	}
	code, ok := hookErrorCode(err)
	if !ok {
		return 0
	}
	switch code {
	case kerr.ProducerFenced.Code:
		return kerr.InvalidProducerEpoch.Code
	case kerr.TransactionAbortable.Code:
		if v < 4 {
			return kerr.InvalidTxnState.Code
		}
	case kerr.NetworkException.Code:
		return kerr.CoordinatorLoadInProgress.Code
	}
	return code
}

// txnCode rewrites COORDINATOR_LOAD_IN_PROGRESS for v0-v1, whose producers do not retry it.
func txnCode(v int16, code int16) int16 {
	if v <= 1 && code == kerr.CoordinatorLoadInProgress.Code {
		return kerr.CoordinatorNotAvailable.Code
	}
	return code
}

// txnOffsets checks each forwarded partition's metadata size (step 6) and returns the offsets
// to stage.
func (h *Handler) txnOffsets(req *kmsg.TxnOffsetCommitRequest, resp *kmsg.TxnOffsetCommitResponse) map[offsetstore.TopicPartition]offsetstore.Offset {
	now := h.now()
	out := make(map[offsetstore.TopicPartition]offsetstore.Offset)
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			if rp.ErrorCode != 0 {
				continue
			}
			p := &req.Topics[i].Partitions[j]
			md := ""
			if p.Metadata != nil {
				md = *p.Metadata
			}
			if h.metadataTooLarge(md) {
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			o := offsetstore.Offset{Offset: p.Offset, LeaderEpoch: -1, Metadata: md, CommitTime: now}
			if req.Version >= 2 {
				o.LeaderEpoch = p.LeaderEpoch
			}
			out[offsetstore.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}] = o
		}
	}
	return out
}

// CompleteTransaction completes the pending offsets that producerID's transaction staged in
// each of groups through TxnOffsetCommit: with commit they become the groups' committed
// offsets (except where a later write wins, see offsetstore.PendingCommitter), without they
// are dropped. It is the equivalent of the transaction markers Kafka's transaction
// coordinator writes to the offsets partitions when a transaction ends, and is as idempotent:
// completing a transaction twice, or in a group where it staged nothing, is not an error. It
// returns the first store error (having tried every group); a transaction coordinator
// retries until it succeeds, as Kafka retries markers. Without a PendingCommitter store it
// returns an error matching ErrUnsupported.
func (h *Handler) CompleteTransaction(ctx context.Context, producerID int64, groups []string, commit bool) error {
	if h.pending == nil {
		return fmt.Errorf("%w: the store keeps no pending offsets", ErrUnsupported)
	}
	var errs []error
	for _, g := range groups {
		if err := h.pending.CompletePending(ctx, g, producerID, commit); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// setTxnCodes sets code on every partition of resp that has no error yet.
func setTxnCodes(resp *kmsg.TxnOffsetCommitResponse, code int16) {
	for i := range resp.Topics {
		ps := resp.Topics[i].Partitions
		for j := range ps {
			if ps[j].ErrorCode == 0 {
				ps[j].ErrorCode = code
			}
		}
	}
}

func setTxnTopicCodes(rt *kmsg.TxnOffsetCommitResponseTopic, code int16) {
	for j := range rt.Partitions {
		rt.Partitions[j].ErrorCode = code
	}
}

// maxTxnVersion serves TxnOffsetCommit only with a TxnValidator and a PendingCommitter store;
// v6 carries topic ids, served only with Options.TopicIDs.
func maxTxnVersion(h *Handler) int16 {
	if h.txns == nil || h.pending == nil {
		return -1
	}
	return maxIDVersion(6)(h)
}

// handleTxnOffsetCommit is the dispatch table's typed handler for TxnOffsetCommit.
func handleTxnOffsetCommit(h *Handler, ctx context.Context, req kmsg.Request, c *call) (kmsg.Response, error) {
	return nilIfErr(h.txnOffsetCommit(ctx, req.(*kmsg.TxnOffsetCommitRequest), c))
}

// bodyTxnOffsetCommit is the dispatch table's body handler for TxnOffsetCommit.
func bodyTxnOffsetCommit(h *Handler, ctx context.Context, version int16, body []byte, c *call) (kmsg.Response, bodyMem, error) {
	req := kmsg.TxnOffsetCommitRequest{Version: version}
	if err := req.ReadFrom(body); err != nil {
		return nil, bodyMem{}, malformed(kmsg.TxnOffsetCommit, version, err)
	}
	resp, err := nilIfErr(h.txnOffsetCommit(ctx, &req, c))
	return resp, bodyMem{}, err
}

// countTxnOffsetCommit counts the error codes of a TxnOffsetCommit response.
func countTxnOffsetCommit(resp kmsg.Response, ec *errorCounter) {
	r, _ := resp.(*kmsg.TxnOffsetCommitResponse)
	if r == nil {
		return
	}
	for i := range r.Topics {
		for j := range r.Topics[i].Partitions {
			ec.add(r.Topics[i].Partitions[j].ErrorCode)
		}
	}
}
