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
	resp.Topics = make([]kmsg.OffsetDeleteResponseTopic, len(req.Topics))
	var forwardedTopics []string
	forwarded := 0
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
		someForwarded := false
		for j := range t.Partitions {
			rp := &rt.Partitions[j]
			rp.Partition, rp.ErrorCode = t.Partitions[j].Partition, code
			if code == 0 {
				if rp.Partition < 0 || rp.Partition >= n {
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				} else {
					someForwarded = true
					forwarded++
				}
			}
		}
		if someForwarded {
			forwardedTopics = append(forwardedTopics, t.Topic)
		}
	}

	// 3. The group. An unavailable coordinator is answered before the group id is checked
	// (GroupCoordinatorService.deleteOffsets); the empty group id is never valid here.
	greq := GroupRequest{Op: OpOffsetDelete, Version: req.Version, Group: req.Group, Generation: -1, Topics: forwardedTopics}
	ask := func() (GroupResult, int16) {
		res, code, noActive := h.consult(ctx, greq)
		if code == kerr.CoordinatorNotAvailable.Code {
			return res, code
		}
		if req.Group == "" {
			if code == 0 {
				release(res)
			}
			return GroupResult{}, kerr.InvalidGroupID.Code
		}
		if !noActive {
			return res, code
		}
		exists, err := h.groupExists(ctx, req.Group)
		switch {
		case err != nil:
			release(res)
			return GroupResult{}, h.storeErrorCode(ctx, c, kmsg.OffsetDelete, req.Group, err)
		case !exists:
			release(res)
			return GroupResult{}, kerr.GroupIDNotFound.Code
		}
		return res, 0
	}
	res, code := ask()
	if code != 0 {
		return fail(code)
	}

	// 4. Subscribed topics, then one delete, under the group's fence when the coordinator
	// gave one. Asked again after the group changed under the delete, the subscriptions are
	// the new acceptance's.
	if forwarded == 0 {
		release(res)
		return resp, nil
	}
	type target struct {
		topic string
		rp    *kmsg.OffsetDeleteResponseTopicPartition
	}
	targets := make([]target, 0, forwarded)
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		for j := range rt.Partitions {
			if rt.Partitions[j].ErrorCode == 0 {
				targets = append(targets, target{rt.Topic, &rt.Partitions[j]})
			}
		}
	}
	del := make([]offsetstore.TopicPartition, 0, forwarded)
	code, err := h.guarded(res, fencedWrite{
		write: func(fenced bool, fence int64) error {
			subscribed := make(map[string]bool, len(res.Subscribed))
			for _, t := range res.Subscribed {
				subscribed[t] = true
			}
			del = del[:0]
			for _, t := range targets {
				t.rp.ErrorCode = 0
				if subscribed[t.topic] {
					t.rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
				} else {
					del = append(del, offsetstore.TopicPartition{Topic: t.topic, Partition: t.rp.Partition})
				}
			}
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
			res, code = ask()
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
