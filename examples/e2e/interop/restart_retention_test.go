package interop

import (
	"net"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/examples/internal/server"
	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/filerstore/weedtest"
	"github.com/stretchr/testify/require"
)

// TestRetentionAcrossGatewayRestart: a consumer group commits at T0 and becomes Empty at
// T0+6d; the gateway restarts on the same filer. Its offsets must stay until 7 days after the
// group became Empty (T0+13d), as Kafka keeps them (KIP-211), not expire 7 days after the
// commit: the group's state is saved in the filer with its fence and reloaded at start.
func TestRetentionAcrossGatewayRestart(t *testing.T) {
	f := weedtest.Start(t)
	ctx := testContext(t)
	store, err := filerstore.Dial(ctx, f.Addr(), filerstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, store.Close()) })

	t0 := time.Now().Truncate(time.Millisecond)
	clk := &testClock{now: t0}
	start := func() (*server.Server, string, func()) {
		ts, err := server.ParseTopics("t1:3")
		require.NoError(t, err)
		srv, err := server.New(server.Options{
			Store: store, Topics: ts, Logger: testLogger(), Now: clk.Now,
			Retention: 7 * 24 * time.Hour, RetentionCheckInterval: time.Hour, // the test sweeps
		})
		require.NoError(t, err)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ln) }()
		return srv, ln.Addr().String(), func() {
			require.NoError(t, srv.Close())
			require.NoError(t, <-done)
		}
	}

	_, addr, stop := start()
	m := joinGroup(t, addr, "cg")
	m.waitAssigned(t, 3)
	m.commit(t, ctx, map[int32]int64{0: 7, 1: 8, 2: 9})
	clk.add(6 * 24 * time.Hour)
	m.cl.Close() // leaves the group: Empty at T0+6d
	adm := newKadm(t, addr)
	require.Eventually(t, func() bool {
		d, err := adm.DescribeGroups(ctx, "cg")
		return err == nil && d["cg"].State == "Empty"
	}, 20*time.Second, 20*time.Millisecond)
	// A fetch is answered once the Empty state is saved with the group's fence.
	require.Len(t, fetchAll(t, adm, "cg"), 3)
	stop()

	srv, addr, stop := start()
	defer stop()
	adm = newKadm(t, addr)
	clk.add(24*time.Hour + time.Hour) // T0+7d+1h
	st, err := srv.SweepOffsets(ctx)
	require.NoError(t, err)
	require.Zero(t, st.Expired, "expired 7 days after the commit, not after the group became Empty")
	require.Equal(t, map[string]int64{"t1/0": 7, "t1/1": 8, "t1/2": 9}, fetchAll(t, adm, "cg"))

	clk.add(6*24*time.Hour - time.Hour + time.Minute) // T0+13d+1m
	st, err = srv.SweepOffsets(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, st.Expired)
	require.Empty(t, fetchAll(t, adm, "cg"))

}
