package groupcoord_test

import (
	"context"
	"fmt"

	"github.com/offsetkit/offsetkit/groupcoord"
	"github.com/offsetkit/offsetkit/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A coordinator plugged into a protocol.Handler decides commits by live membership: an admin
// commit (generation -1, no member) is left to the Handler while the group has no members, and
// refused once a consumer has joined. Whoever writes under an acceptance reports the end of the
// write through its Done, as the Handler does.
func ExampleCoordinator_ValidateGroup() {
	c := groupcoord.New(groupcoord.Options{})
	defer c.Close()
	ctx := context.Background()
	admin := protocol.GroupRequest{Op: protocol.OpOffsetCommit, Version: 9, Group: "g", Generation: -1, MemberID: kmsg.StringPtr("")}

	res, err := c.ValidateGroup(ctx, admin)
	fmt.Println("before join:", err)
	res.Done(nil) // the write under this acceptance is over

	join := kmsg.NewPtrJoinGroupRequest()
	join.Version = 9
	join.Group, join.ProtocolType, join.SessionTimeoutMillis = "g", "consumer", 10_000
	join.InstanceID = kmsg.StringPtr("static-1") // static members join without MEMBER_ID_REQUIRED
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	resp := c.JoinGroup(ctx, join, "client", "/127.0.0.1")
	fmt.Println("joined generation", resp.Generation)

	_, err = c.ValidateGroup(ctx, admin)
	fmt.Println("after join:", err)
	member := protocol.GroupRequest{Op: protocol.OpOffsetCommit, Version: 9, Group: "g",
		Generation: resp.Generation, MemberID: &resp.MemberID, InstanceID: join.InstanceID}
	_, err = c.ValidateGroup(ctx, member)
	fmt.Println("member before SyncGroup:", err)
	// Output:
	// before join: protocol: group has no active members
	// joined generation 1
	// after join: UNKNOWN_MEMBER_ID: The coordinator is not aware of this member.
	// member before SyncGroup: REBALANCE_IN_PROGRESS: The group is rebalancing, so a rejoin is needed.
}
