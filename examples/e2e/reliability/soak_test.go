package main

import (
	"context"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/filerstore/weedtest"
	"github.com/stretchr/testify/require"
)

// TestSoak commits from concurrent raw clients through the gateway process over a real filer
// for ~18 s, with two consumer groups of three kgo members that leave and join again every
// second while they commit, while weed is SIGKILLed and restarted twice and then SIGSTOPped
// for 4 s (longer than the clients' 1.5 s request timeout, so they also give up on
// connections and reconnect), then reads every key back: no acknowledged commit may be lost,
// none may be acknowledged while weed is dead or stopped, every refusal of a raw client must
// be retriable, and no key may ever read older than its newest acknowledged offset (stale
// overwrites), at the end or in the fetches made all along.
func TestSoak(t *testing.T) {
	f := weedtest.Start(t)
	t.Cleanup(func() { _ = f.Kill() }) // before Start's Close: a killed weed needs no 15 s stop
	bin := gatewayBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := runSoak(ctx, soakConfig{
		Weed: f, GatewayBin: bin, Root: "/offsetkit-reliability/soak",
		Clients: 8, Partitions: 4, Duration: 18 * time.Second, Kills: 2, Down: 1500 * time.Millisecond,
		Pauses: 1, PauseFor: 4 * time.Second, RequestTimeout: 1500 * time.Millisecond,
		Groups: 2, Members: 3, Churn: time.Second, Seed: 1,
		Logf: t.Logf,
	})
	require.NoError(t, err)
	t.Logf("%+v", rep)
	t.Logf("groups: %+v", rep.Groups)
	t.Logf("watch: %+v", rep.Watch)
	require.False(t, rep.GatewayCrashed)
	require.NoError(t, rep.GatewayExit)
	require.Len(t, rep.Outages, 3)
	require.Zero(t, rep.Lost, "lost: %v", rep.LostKeys)
	require.Zero(t, rep.Phantom, "phantom: %v", rep.LostKeys)
	require.Zero(t, rep.AckedWhileDown)
	require.Zero(t, rep.NonRetriable, "%v", rep.NonRetriableByCode)
	require.Positive(t, rep.Refused, "weed was dead: some commit must have been refused")
	require.Positive(t, rep.Acked)
	require.Positive(t, rep.Transport, "the clients gave up on requests while weed was stopped")
	require.Equal(t, rep.Keys, rep.AtLastAck+rep.AtLaterAttempt+rep.NeverAckedEmpty+rep.Unanswered)
	require.Zero(t, rep.StaleOverwrites(), "stale: %v %v", rep.Groups.Problems, rep.Watch.Examples)
	require.Positive(t, rep.Watch.Reads)
	g := rep.Groups
	require.Zero(t, g.Lost, "%v", g.Problems)
	require.Zero(t, g.Phantom, "%v", g.Problems)
	require.Positive(t, g.Acked, "no group member's commit was acknowledged")
	require.Greater(t, g.Joins, int64(6), "no member joined again")
	require.Positive(t, g.Leaves)
	require.Greater(t, g.MaxGeneration, int32(1), "the groups never rebalanced")
	require.Equal(t, g.Groups*g.Partitions, g.AtNewest+g.AtLaterAttempt+g.NeverAcked+g.Unanswered)
	for _, o := range rep.Outages {
		require.Positive(t, o.Recovered, "no commit acknowledged after the restart")
	}
}
