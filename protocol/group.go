package protocol

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// consult asks the GroupValidator about greq. It returns the validator's result and the error
// code of its refusal (0 to accept), or noActive when there is no validator or it answered
// ErrNoActiveGroup: the caller then applies Kafka's rules for a group with no members.
func (h *Handler) consult(ctx context.Context, greq GroupRequest) (res GroupResult, code int16, noActive bool) {
	if h.groups == nil {
		return GroupResult{}, 0, true
	}
	res, err := h.groups.ValidateGroup(ctx, greq)
	if err == nil {
		return res, 0, false
	}
	if errors.Is(err, ErrNoActiveGroup) {
		return GroupResult{}, 0, true
	}
	code, ok := hookErrorCode(err)
	if !ok {
		h.log.WarnContext(ctx, "GroupValidator returned a non-nil error without an error code; accepting",
			"group", greq.Group, "err", err)
		return res, 0, false
	}
	return GroupResult{}, code, false
}

// groupExists reports whether the store holds any offset of group: without coordinator state,
// a group exists exactly when its offsets do (Kafka's simple groups, kafka-offsets.md 3.3).
func (h *Handler) groupExists(ctx context.Context, group string) (bool, error) {
	all, err := h.store.FetchAll(ctx, group)
	if err != nil {
		return false, err
	}
	return len(all) > 0, nil
}

// commitGroupCode validates an OffsetCommit against its group: the code every forwarded
// partition gets, 0 to store them. Without coordinator state for the group it applies
// Kafka's rules (ClassicGroup.validateOffsetCommit) for an Empty or missing group:
//
//   - generation < 0: accepted whatever the member and instance ids (rule 2, and a missing
//     group is created as a simple group by the commit itself);
//   - generation >= 0 to an Empty group (offsets stored): UNKNOWN_MEMBER_ID, since member
//     validation comes first and the group has no members;
//   - generation >= 0 to a missing group: ILLEGAL_GENERATION for v0-v8, GROUP_ID_NOT_FOUND
//     for v9+.
func (h *Handler) commitGroupCode(ctx context.Context, greq GroupRequest, c *call) int16 {
	_, code, noActive := h.consult(ctx, greq)
	if !noActive {
		return code
	}
	return h.noGroupCode(ctx, c, kmsg.OffsetCommit, greq, 9)
}

// noGroupCode applies Kafka's rules for a commit (OffsetCommit or TxnOffsetCommit) to a group
// without coordinator state, as commitGroupCode documents; notFoundFrom is the first version
// that answers GROUP_ID_NOT_FOUND rather than ILLEGAL_GENERATION for a missing group.
func (h *Handler) noGroupCode(ctx context.Context, c *call, key kmsg.Key, greq GroupRequest, notFoundFrom int16) int16 {
	if greq.Generation < 0 {
		return 0
	}
	exists, err := h.groupExists(ctx, greq.Group)
	switch {
	case err != nil:
		return h.storeErrorCode(ctx, c, key, greq.Group, err)
	case exists:
		return kerr.UnknownMemberID.Code
	case greq.Version >= notFoundFrom:
		return kerr.GroupIDNotFound.Code
	default:
		return kerr.IllegalGeneration.Code
	}
}
