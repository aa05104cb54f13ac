package protocol

// OffsetDelete: v0 (KIP-496; docs/kafka-semantics.md, section 5). Never flexible.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// OffsetDelete answers an OffsetDelete request (v0) the way Kafka does
// (KafkaApis.handleOffsetDeleteRequest, then OffsetMetadataManager.deleteOffsets and the
// group's validateDeleteOffsets):
//
//  1. group DELETE ACL: on refusal, top-level GROUP_AUTHORIZATION_FAILED and no topics;
//  2. per topic: READ ACL (TOPIC_AUTHORIZATION_FAILED), then the topic's and each partition's
//     existence (UNKNOWN_TOPIC_OR_PARTITION);
//  3. the group, checked even when no partition passed step 2: the group id "" gives
//     INVALID_GROUP_ID; Options.Groups may refuse (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP,
//     coordinator errors); without coordinator state for the group, a group with nothing
//     stored is GROUP_ID_NOT_FOUND. A top-level error replaces every partition result;
//  4. partitions of topics the group is subscribed to (GroupResult.Subscribed) get
//     GROUP_SUBSCRIBED_TO_TOPIC; the rest are deleted in one Store.Delete and get NONE, even
//     where nothing was stored. A failed Store.Delete is a top-level retriable error.
func (h *Handler) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) (*kmsg.OffsetDeleteResponse, error) {
	if h.obs == nil {
		return h.offsetDelete(ctx, req, nil)
	}
	start := time.Now()
	var c call
	resp, err := h.offsetDelete(ctx, req, &c)
	h.observe(ctx, kmsg.OffsetDelete.Int16(), versionOf(req), start, resp, &c, err)
	return resp, err
}

// offsetDelete is OffsetDelete: the Kafka checks in order, then one delete.
func (h *Handler) offsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest, c *call) (*kmsg.OffsetDeleteResponse, error) {
	if req == nil {
		return nil, errNilRequest
	}
	if h.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout)
		defer cancel()
	}
	if !h.serves(kmsg.OffsetDelete, req.Version) {
		return nil, unsupported(kmsg.OffsetDelete, req.Version)
	}
	resp := kmsg.NewPtrOffsetDeleteResponse()
	resp.Version = req.Version
	fail := func(code int16) (*kmsg.OffsetDeleteResponse, error) {
		resp.ErrorCode, resp.Topics = code, []kmsg.OffsetDeleteResponseTopic{}
		return resp, nil
	}

	// 1. Group ACL.
	if !h.authorized(ctx, kmsg.OffsetDelete, OperationDelete, ResourceGroup, req.Group) {
		return fail(kerr.GroupAuthorizationFailed.Code)
	}

	// 2. Topic checks. Partitions left with code 0 are forwarded.
	forwardedTopics, targets := h.deleteTopicChecks(ctx, req, resp)

	// 3. The group, checked even when no partition is forwarded.
	greq := GroupRequest{Op: OpOffsetDelete, Version: req.Version, Group: req.Group, Generation: -1, Topics: forwardedTopics}
	res, code := h.deleteGroupCode(ctx, c, greq)
	if code != 0 {
		return fail(code)
	}
	if len(targets) == 0 {
		release(res)
		return resp, nil
	}

	// 4. Subscribed topics, then one delete, under the group's fence when the coordinator
	// gave one. Asked again after the group changed under the delete, the subscriptions are
	// the new acceptance's.
	del := make([]offsetstore.TopicPartition, 0, len(targets))
	code, err := h.guarded(res, fencedWrite{
		write: func(fenced bool, fence int64) error {
			del = subscribedOrDeleted(targets, res.Subscribed, del[:0])
			switch {
			case len(del) == 0:
				return nil
			case fenced:
				return h.fencer.DeleteFenced(ctx, req.Group, fence, del)
			default:
				return h.store.Delete(ctx, req.Group, del)
			}
		},
		again: func() (GroupResult, int16) {
			res, code = h.deleteGroupCode(ctx, c, greq)
			return res, code
		},
	})
	switch {
	case err != nil:
		return fail(h.storeErrorCode(ctx, c, kmsg.OffsetDelete, req.Group, err))
	case code != 0:
		return fail(code)
	}
	return resp, nil
}

// deleteTarget is a forwarded partition of an OffsetDelete and its answer.
type deleteTarget struct {
	topic string
	rp    *kmsg.OffsetDeleteResponseTopicPartition
}

// deleteTopicChecks answers every requested partition into resp after the topic checks (READ
// ACL: TOPIC_AUTHORIZATION_FAILED; existence: UNKNOWN_TOPIC_OR_PARTITION) and returns the
// topics with a forwarded partition, and the forwarded partitions.
func (h *Handler) deleteTopicChecks(ctx context.Context, req *kmsg.OffsetDeleteRequest, resp *kmsg.OffsetDeleteResponse) ([]string, []deleteTarget) {
	resp.Topics = make([]kmsg.OffsetDeleteResponseTopic, len(req.Topics))
	var topics []string
	var targets []deleteTarget
	for i := range req.Topics {
		t := &req.Topics[i]
		rt := &resp.Topics[i]
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.OffsetDeleteResponseTopicPartition, len(t.Partitions))
		var code int16
		var n int32
		if !h.authorized(ctx, kmsg.OffsetDelete, OperationRead, ResourceTopic, t.Topic) {
			code = kerr.TopicAuthorizationFailed.Code
		} else if count, ok := h.partitionCount(ctx, t.Topic); !ok {
			code = kerr.UnknownTopicOrPartition.Code
		} else {
			n = count
		}
		before := len(targets)
		for j := range t.Partitions {
			rp := &rt.Partitions[j]
			rp.Partition, rp.ErrorCode = t.Partitions[j].Partition, code
			if code == 0 && (rp.Partition < 0 || rp.Partition >= n) {
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else if code == 0 {
				targets = append(targets, deleteTarget{t.Topic, rp})
			}
		}
		if len(targets) > before {
			topics = append(topics, t.Topic)
		}
	}
	return topics, targets
}

// deleteGroupCode asks the group about an OffsetDelete: the acceptance, or the top-level code
// of a refusal. An unavailable coordinator is answered before the group id is checked
// (GroupCoordinatorService.deleteOffsets); the empty group id is never valid here; without
// coordinator state a group with nothing stored is GROUP_ID_NOT_FOUND.
func (h *Handler) deleteGroupCode(ctx context.Context, c *call, greq GroupRequest) (GroupResult, int16) {
	res, code, noActive := h.consult(ctx, greq)
	if code == kerr.CoordinatorNotAvailable.Code {
		return res, code
	}
	if greq.Group == "" {
		if code == 0 {
			release(res)
		}
		return GroupResult{}, kerr.InvalidGroupID.Code
	}
	if !noActive {
		return res, code
	}
	exists, err := h.groupExists(ctx, greq.Group)
	switch {
	case err != nil:
		release(res)
		return GroupResult{}, h.storeErrorCode(ctx, c, kmsg.OffsetDelete, greq.Group, err)
	case !exists:
		release(res)
		return GroupResult{}, kerr.GroupIDNotFound.Code
	}
	return res, 0
}

// subscribedOrDeleted answers each target: GROUP_SUBSCRIBED_TO_TOPIC for a topic in
// subscribed, else NONE with the partition appended to del, which it returns.
func subscribedOrDeleted(targets []deleteTarget, subscribed []string, del []offsetstore.TopicPartition) []offsetstore.TopicPartition {
	sub := make(map[string]bool, len(subscribed))
	for _, t := range subscribed {
		sub[t] = true
	}
	for _, t := range targets {
		t.rp.ErrorCode = 0
		if sub[t.topic] {
			t.rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
		} else {
			del = append(del, offsetstore.TopicPartition{Topic: t.topic, Partition: t.rp.Partition})
		}
	}
	return del
}

// handleOffsetDelete is the dispatch table's typed handler for OffsetDelete.
func handleOffsetDelete(h *Handler, ctx context.Context, req kmsg.Request, c *call) (kmsg.Response, error) {
	return nilIfErr(h.offsetDelete(ctx, req.(*kmsg.OffsetDeleteRequest), c))
}

// bodyOffsetDelete is the dispatch table's body handler for OffsetDelete.
func bodyOffsetDelete(h *Handler, ctx context.Context, version int16, body []byte, c *call) (kmsg.Response, bodyMem, error) {
	req := kmsg.OffsetDeleteRequest{Version: version}
	if err := req.ReadFrom(body); err != nil {
		return nil, bodyMem{}, malformed(kmsg.OffsetDelete, version, err)
	}
	resp, err := nilIfErr(h.offsetDelete(ctx, &req, c))
	return resp, bodyMem{}, err
}

// countOffsetDelete counts the error codes of an OffsetDelete response.
func countOffsetDelete(resp kmsg.Response, ec *errorCounter) {
	r, _ := resp.(*kmsg.OffsetDeleteResponse)
	if r == nil {
		return
	}
	ec.add(r.ErrorCode)
	for i := range r.Topics {
		for j := range r.Topics[i].Partitions {
			ec.add(r.Topics[i].Partitions[j].ErrorCode)
		}
	}
}
