package interop

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/examples/internal/server"
	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/filerstore/weedtest"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/retention"
	"github.com/stretchr/testify/require"
)

// startSweptServer serves a gateway over store in this process, on clk's time, with 7 days of
// offset retention and no sweep of its own: the test sweeps (Server.SweepOffsets). stop
// closes it.
func startSweptServer(t *testing.T, store offsetstore.Store, clk *testClock) (srv *server.Server, addr string, stop func()) {
	t.Helper()
	ts, err := server.ParseTopics("t1:3")
	require.NoError(t, err)
	srv, err = server.New(server.Options{
		Store: store, Topics: ts, Logger: testLogger(), Now: clk.Now,
		Retention: 7 * 24 * time.Hour, RetentionCheckInterval: time.Hour,
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
	start := func() (*server.Server, string, func()) { return startSweptServer(t, store, clk) }

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

// A retention sweep that read an Empty group's state (past retention) is held in the stopped
// filer while a kgo member joins the group and subscribes to its topic; after SIGCONT the
// member's commit is acknowledged and stays. The held sweep either deleted the offsets before
// the group's fence moved (as Kafka's would, having come first) or is refused by the filer and
// deletes nothing: a Stable group's subscribed offsets never expire.
func TestFilerRaceSweepVersusStable(t *testing.T) {
	f := weedtest.Start(t)
	t.Cleanup(func() { _ = f.Resume() })
	_, port, err := net.SplitHostPort(f.Addr())
	require.NoError(t, err)
	filerPort, err := strconv.Atoi(port)
	require.NoError(t, err)
	ctx := testContext(t)
	store, err := filerstore.Dial(ctx, f.Addr(), filerstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, store.Close()) })
	clk := &testClock{now: time.Now().Truncate(time.Millisecond)}
	srv, addr, stop := startSweptServer(t, store, clk)
	defer stop()

	a := joinGroup(t, addr, "cg")
	a.waitAssigned(t, 3)
	a.commit(t, ctx, map[int32]int64{0: 7, 1: 8, 2: 9})
	a.cl.Close() // leaves: the group is Empty
	adm := newKadm(t, addr)
	require.Eventually(t, func() bool {
		d, err := adm.DescribeGroups(ctx, "cg")
		return err == nil && d["cg"].State == "Empty"
	}, 20*time.Second, 20*time.Millisecond)
	require.Len(t, fetchAll(t, adm, "cg"), 3) // answered once the Empty state is saved
	clk.add(8 * 24 * time.Hour)               // past retention since the group became Empty

	require.NoError(t, f.Pause())
	before, err := filerBacklog(os.Getpid(), filerPort)
	require.NoError(t, err)
	type sweep struct {
		st  retention.Stats
		err error
	}
	swept := make(chan sweep, 1)
	go func() {
		st, err := srv.SweepOffsets(context.Background())
		swept <- sweep{st, err}
	}()
	waitBacklog(t, os.Getpid(), filerPort, before, "the sweep")

	b := joinGroup(t, addr, "cg") // its SyncGroup is answered once the group's fence has moved
	require.NoError(t, f.Resume())
	b.waitAssigned(t, 3)
	b.commit(t, ctx, map[int32]int64{0: 500})
	var sw sweep
	select {
	case sw = <-swept:
	case <-time.After(raceWait):
		t.Fatal("the held sweep never ended")
	}
	require.NoError(t, sw.err)
	got := fetchAll(t, adm, "cg")
	t.Logf("the held sweep expired %d offsets; stored %v", sw.st.Expired, got)
	require.Equal(t, int64(500), got["t1/0"], "the acknowledged commit")
	switch sw.st.Expired {
	case 0: // refused after the fence moved
		require.Equal(t, map[string]int64{"t1/0": 500, "t1/1": 8, "t1/2": 9}, got)
	case 3: // applied before the group changed
		require.Equal(t, map[string]int64{"t1/0": 500}, got)
	default:
		t.Fatalf("the sweep expired %d of the group's 3 offsets", sw.st.Expired)
	}
}
