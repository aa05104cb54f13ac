package protocol

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// consult asks the GroupValidator about greq. It returns the validator's result and the error
// code of its refusal (0 to accept), or noActive when there is no validator or it answered
// ErrNoActiveGroup: the caller then applies Kafka's rules for a group with no members, under
// the fence and Done the validator may have returned with ErrNoActiveGroup.
func (h *Handler) consult(ctx context.Context, greq GroupRequest) (res GroupResult, code int16, noActive bool) {
	if h.groups == nil {
		return GroupResult{}, 0, true
	}
	res, err := h.groups.ValidateGroup(ctx, greq)
	if err == nil {
		return res, 0, false
	}
	if errors.Is(err, ErrNoActiveGroup) {
		return res, 0, true
	}
	code, ok := hookErrorCode(err)
	if ok && greq.Op == OpOffsetFetch && !isKafkaError(err) {
		// A coordinator failure on the fetch path is answered NOT_COORDINATOR, as Kafka remaps
		// its fetch failures (GroupCoordinatorService.fetchOffsets): Java consumers before 3.9
		// fail hard on COORDINATOR_NOT_AVAILABLE from OffsetFetch, and retry this one.
		code = kerr.NotCoordinator.Code
	}
	if !ok {
		h.log.WarnContext(ctx, "GroupValidator returned a non-nil error without an error code; accepting",
			"group", greq.Group, "err", err)
		return res, 0, false
	}
	return GroupResult{}, code, false
}

// groupExists reports whether the store holds any offset of group, committed or pending:
// without coordinator state, a group exists exactly when its offsets do, as for Kafka's simple
// groups, which replaying an offset commit record re-creates (GroupMetadataManager), a
// transactional one included.
func (h *Handler) groupExists(ctx context.Context, group string) (bool, error) {
	all, err := h.store.FetchAll(ctx, group)
	if err != nil || len(all) > 0 || h.pending == nil {
		return len(all) > 0, err
	}
	pending, err := h.pending.PendingPartitions(ctx, group)
	return len(pending) > 0, err
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
//
// An acceptance (code 0) comes with the validator's GroupResult, whose Done the caller owes a
// call; a refusal's Done has been called.
func (h *Handler) commitGroupCode(ctx context.Context, greq GroupRequest, c *call) (GroupResult, int16) {
	return h.groupCode(ctx, c, kmsg.OffsetCommit, greq)
}

// groupCode is commitGroupCode for a commit of either kind (OffsetCommit or TxnOffsetCommit,
// key), whose missing group answers GROUP_ID_NOT_FOUND from v9 of OffsetCommit and from v6 of
// TxnOffsetCommit, ILLEGAL_GENERATION before.
func (h *Handler) groupCode(ctx context.Context, c *call, key kmsg.Key, greq GroupRequest) (GroupResult, int16) {
	res, code, noActive := h.consult(ctx, greq)
	if !noActive || greq.Generation < 0 {
		return res, code
	}
	release(res)
	notFoundFrom := int16(9)
	if key == kmsg.TxnOffsetCommit {
		notFoundFrom = 6
	}
	exists, err := h.groupExists(ctx, greq.Group)
	switch {
	case err != nil:
		return GroupResult{}, h.storeErrorCode(ctx, c, key, greq.Group, err)
	case exists:
		return GroupResult{}, kerr.UnknownMemberID.Code
	case greq.Version >= notFoundFrom:
		return GroupResult{}, kerr.GroupIDNotFound.Code
	default:
		return GroupResult{}, kerr.IllegalGeneration.Code
	}
}
