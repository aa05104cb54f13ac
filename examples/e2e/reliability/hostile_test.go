package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hostileRSSBound is the resident memory the gateway may reach under the hostile corpus. The
// largest legitimate buffers are four concurrent 16 MiB frames (the bigFrames input); each
// may cost up to about four times its size while its buffer grows and before the GC runs, on
// top of a ~25 MiB baseline: 4 x 4 x 16 MiB + 25 MiB < 384 MiB. (Measured: ~200 MiB.) Under
// go test -race the gateway is built with the race detector, whose shadow memory makes that two
// to three times as much (measured: 440-550 MiB).
func hostileRSSBound() int64 {
	if raceEnabled {
		return 1 << 30
	}
	return 384 << 20
}

// TestHostile feeds the gateway process (over a real filer) the hostile corpus: every input
// is answered or closed, a fresh connection is served after each, the process never exits,
// its memory stays bounded, path-trick group names round-trip, and nothing is written to the
// filer outside the store's root.
func TestHostile(t *testing.T) {
	f := sharedWeed(t)
	bin := gatewayBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const root = "/offsetkit-reliability/hostile"
	rep, err := runHostile(ctx, hostileConfig{Weed: f, GatewayBin: bin, Root: root, Seed: 1, Random: 150, Logf: t.Logf})
	require.NoError(t, err)
	for _, c := range rep.Categories {
		t.Logf("%-20s %+v", c, *rep.ByCategory[c])
	}
	t.Logf("inputs %d, RSS baseline %s peak %s end %s, descriptors %d -> %d, filer entries created %d (under root %d)",
		rep.Inputs, mib(rep.BaselineRSS), mib(rep.PeakRSS), mib(rep.EndRSS), rep.FDsBefore, rep.FDsAfter, rep.FilerEntries, rep.UnderRoot)
	require.False(t, rep.Crashed, "the gateway exited")
	require.NoError(t, rep.GatewayExit)
	require.Empty(t, rep.Hung)
	require.Empty(t, rep.ProbeFailures)
	require.Empty(t, rep.Metadata)
	require.Empty(t, rep.NameFailures)
	require.Empty(t, rep.Outside, "entries created outside %s", root)
	require.Greater(t, rep.Inputs, 1000)
	require.Positive(t, rep.UnderRoot)
	require.Less(t, rep.PeakRSS, hostileRSSBound())
	require.Positive(t, rep.FDsBefore)
	require.LessOrEqual(t, rep.FDsAfter, rep.FDsBefore+fdSlack, "the gateway kept connections open")
	accepted := 0
	for _, n := range rep.Names {
		if n.CommitCode == 0 {
			accepted++
		}
	}
	require.Greater(t, accepted, len(rep.Names)/2, "most hostile names are valid Kafka group ids")
}
