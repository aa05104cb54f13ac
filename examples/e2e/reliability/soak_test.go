package main

import (
	"context"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/filerstore/weedtest"
	"github.com/stretchr/testify/require"
)

// TestSoak commits from concurrent raw clients through the gateway process over a real filer
// for ~18 s while weed is SIGKILLed and restarted twice and then SIGSTOPped for 4 s (longer
// than the clients' 1.5 s request timeout, so they also give up on connections and
// reconnect), then reads every key back: no acknowledged commit may be lost, none may be
// acknowledged while weed is dead or stopped, and every refusal must be retriable.
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
		Logf: t.Logf,
	})
	require.NoError(t, err)
	t.Logf("%+v", rep)
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
	require.Equal(t, rep.Keys, rep.AtLastAck+rep.AtLaterAttempt+rep.NeverAckedEmpty)
	for _, o := range rep.Outages {
		require.Positive(t, o.Recovered, "no commit acknowledged after the restart")
	}
}
