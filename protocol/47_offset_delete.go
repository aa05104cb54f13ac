package protocol

// OffsetDelete: v0 (KIP-496; kafka-offsets.md sections 1.6 and 5). Never flexible.

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// OffsetDelete answers an OffsetDelete request (v0) the way Kafka does (kafka-offsets.md
// section 5):
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
		return nil, fmt.Errorf("%w: nil OffsetDelete request", ErrMalformed)
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

	// 3. The group.
	if req.Group == "" {
		return fail(kerr.InvalidGroupID.Code)
	}
	res, code, noActive := h.consult(ctx, GroupRequest{
		Op: OpOffsetDelete, Version: req.Version, Group: req.Group, Generation: -1, Topics: forwardedTopics,
	})
	if noActive {
		exists, err := h.groupExists(ctx, req.Group)
		switch {
		case err != nil:
			return fail(h.storeErrorCode(ctx, c, kmsg.OffsetDelete, req.Group, err))
		case !exists:
			return fail(kerr.GroupIDNotFound.Code)
		}
	} else if code != 0 {
		return fail(code)
	}

	// 4. Subscribed topics, then one delete.
	if forwarded == 0 {
		return resp, nil
	}
	subscribed := make(map[string]bool, len(res.Subscribed))
	for _, t := range res.Subscribed {
		subscribed[t] = true
	}
	del := make([]offsetstore.TopicPartition, 0, forwarded)
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		sub := subscribed[rt.Topic]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			if rp.ErrorCode != 0 {
				continue
			}
			if sub {
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
				continue
			}
			del = append(del, offsetstore.TopicPartition{Topic: rt.Topic, Partition: rp.Partition})
		}
	}
	if len(del) > 0 {
		if err := h.store.Delete(ctx, req.Group, del); err != nil {
			return fail(h.storeErrorCode(ctx, c, kmsg.OffsetDelete, req.Group, err))
		}
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
