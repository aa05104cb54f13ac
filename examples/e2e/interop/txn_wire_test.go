package interop

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/examples/internal/server"
	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/filerstore/weedtest"
	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
)

// txnClient drives the transaction APIs over a raw connection at chosen versions.
type txnClient struct {
	t     *testing.T
	r     *rawConn
	id    string
	pid   int64
	epoch int16
}

func (c *txnClient) init(v int16, timeoutMs int32) int16 {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version, req.TransactionalID, req.TransactionTimeoutMillis = v, kmsg.StringPtr(c.id), timeoutMs
	resp := c.r.do(req).(*kmsg.InitProducerIDResponse)
	if resp.ErrorCode == 0 {
		c.pid, c.epoch = resp.ProducerID, resp.ProducerEpoch
	}
	return resp.ErrorCode
}

func (c *txnClient) addOffsets(v int16, group string) int16 {
	req := kmsg.NewPtrAddOffsetsToTxnRequest()
	req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = v, c.id, c.pid, c.epoch, group
	return c.r.do(req).(*kmsg.AddOffsetsToTxnResponse).ErrorCode
}

func (c *txnClient) commitOffsets(v int16, group string, partition int32, offset int64) int16 {
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.Version, req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = v, c.id, group, c.pid, c.epoch
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic, rt.TopicID = "t1", server.TopicID("t1")
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := c.r.do(req).(*kmsg.TxnOffsetCommitResponse)
	require.Len(c.t, resp.Topics, 1)
	return resp.Topics[0].Partitions[0].ErrorCode
}

func (c *txnClient) end(v int16, commit bool) int16 {
	req := kmsg.NewPtrEndTxnRequest()
	req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = v, c.id, c.pid, c.epoch, commit
	return c.r.do(req).(*kmsg.EndTxnResponse).ErrorCode
}

// fetchStable fetches group's t1/partition with OffsetFetch v7: the offset and code.
func fetchStable(t *testing.T, r *rawConn, group string, partition int32, requireStable bool) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version, req.Group, req.RequireStable = 7, group, requireStable
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = "t1", []int32{partition}
	req.Topics = append(req.Topics, rt)
	resp := r.do(req).(*kmsg.OffsetFetchResponse)
	require.Zero(t, resp.ErrorCode)
	p := resp.Topics[0].Partitions[0]
	return p.Offset, p.ErrorCode
}

// TestGatewayTransactionsWire runs offsets-only transactions against the gateway at every
// version of InitProducerId, AddOffsetsToTxn, EndTxn and TxnOffsetCommit it serves: commit,
// abort, fencing by a newer epoch, require_stable before and after.
func TestGatewayTransactionsWire(t *testing.T) {
	gw := startGateway(t, nil, "")
	r := dialRaw(t, gw.addr)
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.Version, fc.CoordinatorType, fc.CoordinatorKey = 3, 1, "wire"
	require.Zero(t, r.do(fc).(*kmsg.FindCoordinatorResponse).ErrorCode, "FindCoordinator key type 1")

	for v := int16(0); v <= 6; v++ { // TxnOffsetCommit's versions; the others are clamped to theirs
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			group := fmt.Sprintf("wire-%d", v)
			c := &txnClient{t: t, r: r, id: group}
			initV, addV, endV := min(v, 5), min(v, 4), min(v, 4)
			require.Zero(t, c.init(initV, 60_000))
			require.Zero(t, c.addOffsets(addV, group))
			require.Zero(t, c.commitOffsets(v, group, 0, 10))
			off, code := fetchStable(t, r, group, 0, true)
			assert.Equal(t, [2]int64{-1, int64(kerr.UnstableOffsetCommit.Code)}, [2]int64{off, int64(code)}, "pending, require_stable")
			off, code = fetchStable(t, r, group, 0, false)
			assert.Equal(t, [2]int64{-1, 0}, [2]int64{off, int64(code)}, "pending, no require_stable")
			require.Zero(t, c.end(endV, true))
			off, code = fetchStable(t, r, group, 0, true)
			assert.Equal(t, [2]int64{10, 0}, [2]int64{off, int64(code)}, "committed")

			require.Zero(t, c.addOffsets(addV, group))
			require.Zero(t, c.commitOffsets(v, group, 0, 20))
			require.Zero(t, c.end(endV, false))
			off, code = fetchStable(t, r, group, 0, true)
			assert.Equal(t, [2]int64{10, 0}, [2]int64{off, int64(code)}, "aborted")

			// A newer epoch fences the producer and aborts its open transaction.
			require.Zero(t, c.addOffsets(addV, group))
			require.Zero(t, c.commitOffsets(v, group, 0, 30))
			zombie := *c
			require.Zero(t, c.init(initV, 60_000))
			assert.Equal(t, zombie.epoch+1, c.epoch)
			assert.Equal(t, kerr.InvalidProducerEpoch.Code, zombie.commitOffsets(v, group, 0, 40))
			fenced := kerr.ProducerFenced.Code
			if endV < 2 {
				fenced = kerr.InvalidProducerEpoch.Code
			}
			assert.Equal(t, fenced, zombie.end(endV, true))
			off, code = fetchStable(t, r, group, 0, true)
			assert.Equal(t, [2]int64{10, 0}, [2]int64{off, int64(code)}, "the fenced transaction was aborted")
		})
	}
}

// TestGatewayTransactionTimeout checks that a transaction past its transaction.timeout.ms is
// aborted by the gateway's coordinator, with a clock the test moves.
func TestGatewayTransactionTimeout(t *testing.T) {
	clk := &testClock{now: time.Now()}
	store := newMem(t)
	gw := startGatewayOpts(t, server.Options{Store: store, Now: clk.Now}, "t1:3")
	r := dialRaw(t, gw.addr)
	c := &txnClient{t: t, r: r, id: "slow"}
	require.Zero(t, c.init(4, 1000))
	require.Zero(t, c.addOffsets(3, "slow"))
	require.Zero(t, c.commitOffsets(3, "slow", 1, 5))
	clk.add(time.Second)
	require.Equal(t, 1, gw.srv.AbortExpiredTransactions(testContext(t)))
	_, code := fetchStable(t, r, "slow", 1, true)
	assert.Zero(t, code, "nothing pending after the abort")
	assert.Equal(t, kerr.ProducerFenced.Code, c.end(3, true), "the timed-out producer is fenced")
}

// TestFilerTransactionAcrossRestart commits a transaction's offsets (TxnOffsetCommit
// acknowledged), restarts the gateway over the same filer, and commits (or aborts) the
// transaction with the new gateway, as Kafka guarantees once TxnOffsetCommit was acknowledged.
func TestFilerTransactionAcrossRestart(t *testing.T) {
	f := weedtest.Start(t)
	open := func(t *testing.T) offsetstore.Store {
		st, err := filerstore.Dial(testContext(t), f.Addr(), filerstore.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		return st
	}
	for _, commit := range []bool{true, false} {
		t.Run(fmt.Sprintf("commit=%v", commit), func(t *testing.T) {
			group := fmt.Sprintf("restart-%v", commit)
			first := startGateway(t, open(t), "")
			c := &txnClient{t: t, r: dialRaw(t, first.addr), id: group}
			require.Zero(t, c.init(4, 60_000))
			require.Zero(t, c.addOffsets(3, group))
			require.Zero(t, c.commitOffsets(3, group, 2, 77))
			require.NoError(t, first.srv.Close())

			second := startGateway(t, open(t), "")
			r := dialRaw(t, second.addr)
			_, code := fetchStable(t, r, group, 2, true)
			assert.Equal(t, kerr.UnstableOffsetCommit.Code, code, "still pending after the restart")
			c.r = r
			require.Zero(t, c.end(3, commit))
			want := int64(-1)
			if commit {
				want = 77
			}
			off, code := fetchStable(t, r, group, 2, true)
			assert.Equal(t, [2]int64{want, 0}, [2]int64{off, int64(code)})
		})
	}
}

// TestFilerTransactionAcrossKill commits a transaction's offsets through the gateway binary
// over a real filer, kills it (SIGKILL) with the transaction open, and commits the
// transaction through a new gateway process.
func TestFilerTransactionAcrossKill(t *testing.T) {
	f := weedtest.Start(t)
	flags := []string{"-store", "filer", "-filer", f.Addr(), "-topics", "t1:3"}
	p := startProcess(t, flags...)
	c := &txnClient{t: t, r: dialRaw(t, p.addr), id: "killed"}
	require.Zero(t, c.init(4, 60_000))
	require.Zero(t, c.addOffsets(3, "killed"))
	require.Zero(t, c.commitOffsets(3, "killed", 0, 123))
	require.NoError(t, p.cmd.Process.Kill())
	<-p.done

	p2 := startProcess(t, flags...)
	c.r = dialRaw(t, p2.addr)
	_, code := fetchStable(t, c.r, "killed", 0, true)
	assert.Equal(t, kerr.UnstableOffsetCommit.Code, code, "still pending after the kill")
	require.Zero(t, c.end(3, true))
	off, code := fetchStable(t, c.r, "killed", 0, true)
	assert.Equal(t, [2]int64{123, 0}, [2]int64{off, int64(code)})
}

// testClock is a clock the test moves.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newMem(t *testing.T) offsetstore.Store {
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { st.Close() })
	return st
}
