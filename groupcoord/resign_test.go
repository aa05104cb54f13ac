package groupcoord

import (
	"context"
	"testing"

	"github.com/offsetkit/offsetkit/protocol"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestResign: the groups Resign is given are forgotten (a blocked join is answered with
// NOT_COORDINATOR, a member's commit finds no group), the others are kept, and Load brings a
// resigned group back from the store with its generation.
func TestResign(t *testing.T) {
	f := newFixture(t)
	member, gen := f.stableStatic("g", joinOpts{})
	f.stableStatic("kept", joinOpts{})
	ch := f.joinAsync("g", joinOpts{version: 3})
	f.waitState("g", statePreparingRebalance)

	f.c.Resign(func(group string) bool { return group == "g" })
	require.Equal(t, kerr.NotCoordinator.Code, wait(t, ch).ErrorCode)
	_, err := validate(context.Background(), f.c, protocol.GroupRequest{Op: protocol.OpOffsetCommit, Group: "g", MemberID: &member, Generation: gen})
	require.ErrorIs(t, err, protocol.ErrNoActiveGroup, "the resigned group's members are forgotten")
	_, err = validate(context.Background(), f.c, protocol.GroupRequest{Op: protocol.OpOffsetFetch, Group: "kept"})
	require.NoError(t, err, "a group Resign was not given is kept")

	require.NoError(t, f.c.Load(context.Background()))
	resp := wait(t, f.joinAsync("g", joinOpts{version: 3}))
	require.Zero(t, resp.ErrorCode)
	require.Greater(t, resp.Generation, gen, "the reloaded group goes on from its stored generation")
}
