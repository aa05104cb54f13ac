package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCluster runs three gateway processes on one filer as a cluster with a short lease,
// kills and restarts a coordinator and pauses another: nothing acknowledged is lost, no fetch
// goes back, and every gateway agrees on the coordinators.
func TestCluster(t *testing.T) {
	bin := gatewayBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := runCluster(ctx, clusterConfig{Weed: sharedWeed(t), GatewayBin: bin, Root: "/offsetkit-reliability/cluster-test",
		Gateways: 3, Groups: 6, Duration: 2 * time.Second, Lease: 3 * time.Second, Logf: t.Logf})
	require.NoError(t, err)
	t.Logf("%+v", rep)
	require.True(t, rep.Agreed)
	require.Zero(t, rep.Lost, "%v", rep.LostKeys)
	require.Zero(t, rep.Stale)
	require.Positive(t, rep.Acked)
	require.Len(t, rep.Faults, 2)
	for _, f := range rep.Faults {
		require.Positive(t, f.Keys)
		require.Less(t, f.Failover, 20*time.Second)
	}
}
