package txncoord_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
	"github.com/offsetkit/offsetkit/txncoord"
)

// wire encodes req at its version and decodes it again, as a server receives it.
func wire[R kmsg.Request](t *testing.T, req R) R {
	t.Helper()
	out := kmsg.RequestForKey(req.Key())
	out.SetVersion(req.GetVersion())
	require.NoError(t, out.ReadFrom(req.AppendTo(nil)))
	return out.(R)
}

// back encodes resp at its version and decodes it, as a client receives it.
func back[R kmsg.Response](t *testing.T, resp R) R {
	t.Helper()
	out := kmsg.ResponseForKey(resp.Key())
	out.SetVersion(resp.GetVersion())
	require.NoError(t, out.ReadFrom(resp.AppendTo(nil)))
	return out.(R)
}

// completion is one CompleteTransaction call.
type completion struct {
	PID    int64
	Groups []string
	Commit bool
}

// recorder is a Completer that records its calls and fails while err is set.
type recorder struct {
	mu    sync.Mutex
	calls []completion
	err   error
}

func (r *recorder) CompleteTransaction(_ context.Context, pid int64, groups []string, commit bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, completion{pid, groups, commit})
	return r.err
}

func (r *recorder) taken() []completion {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newCoord(t *testing.T, opts txncoord.Options) (*txncoord.Coordinator, *recorder, *fakeClock) {
	t.Helper()
	rec := &recorder{}
	clk := &fakeClock{now: time.UnixMilli(1_700_000_000_000)}
	if opts.Completer == nil {
		opts.Completer = rec
	}
	opts.Now, opts.CheckInterval, opts.FirstProducerID = clk.Now, -1, 1000
	c, err := txncoord.New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c, rec, clk
}

type producer struct {
	id    string
	pid   int64
	epoch int16
}

func initProducer(t *testing.T, c *txncoord.Coordinator, v int16, id string, timeoutMs int32) (producer, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version, req.TransactionalID, req.TransactionTimeoutMillis = v, kmsg.StringPtr(id), timeoutMs
	resp := back(t, c.InitProducerID(context.Background(), wire(t, req)))
	return producer{id, resp.ProducerID, resp.ProducerEpoch}, resp.ErrorCode
}

func addOffsets(t *testing.T, c *txncoord.Coordinator, v int16, p producer, group string) int16 {
	t.Helper()
	req := kmsg.NewPtrAddOffsetsToTxnRequest()
	req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = v, p.id, p.pid, p.epoch, group
	return back(t, c.AddOffsetsToTxn(context.Background(), wire(t, req))).ErrorCode
}

func endTxn(t *testing.T, c *txncoord.Coordinator, v int16, p producer, commit bool) int16 {
	t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = v, p.id, p.pid, p.epoch, commit
	return back(t, c.EndTxn(context.Background(), wire(t, req))).ErrorCode
}

func validate(c *txncoord.Coordinator, v int16, p producer, group string) error {
	return c.ValidateTxn(context.Background(), protocol.TxnRequest{Version: v, TransactionalID: p.id, ProducerID: p.pid, ProducerEpoch: p.epoch, Group: group})
}

// TestInitProducerID covers InitProducerId at every version served.
func TestInitProducerID(t *testing.T) {
	for v := int16(0); v <= 5; v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			c, _, _ := newCoord(t, txncoord.Options{})
			p, code := initProducer(t, c, v, "tx", 60_000)
			require.Zero(t, code)
			assert.Equal(t, producer{"tx", 1000, 0}, p)
			again, code := initProducer(t, c, v, "tx", 60_000)
			require.Zero(t, code)
			assert.Equal(t, producer{"tx", 1000, 1}, again, "a second init bumps the epoch")

			idem := kmsg.NewPtrInitProducerIDRequest()
			idem.Version = v
			resp := back(t, c.InitProducerID(context.Background(), wire(t, idem)))
			assert.Equal(t, [3]int64{0, 1001, 0}, [3]int64{int64(resp.ErrorCode), resp.ProducerID, int64(resp.ProducerEpoch)}, "idempotent producer")

			_, code = initProducer(t, c, v, "", 60_000)
			assert.Equal(t, kerr.InvalidRequest.Code, code, "empty transactional id")
			_, code = initProducer(t, c, v, "tx2", 0)
			assert.Equal(t, kerr.InvalidTransactionTimeout.Code, code, "zero timeout")
			_, code = initProducer(t, c, v, "tx2", int32(txncoord.DefaultMaxTimeout/time.Millisecond)+1)
			assert.Equal(t, kerr.InvalidTransactionTimeout.Code, code, "timeout beyond the maximum")

			if v >= 3 { // KIP-360: the client names the producer it has
				req := kmsg.NewPtrInitProducerIDRequest()
				req.Version, req.TransactionalID, req.TransactionTimeoutMillis = v, kmsg.StringPtr("tx"), 60_000
				req.ProducerID, req.ProducerEpoch = 1000, 0 // stale: the epoch is 1
				resp := back(t, c.InitProducerID(context.Background(), wire(t, req)))
				want := kerr.ProducerFenced.Code
				if v < 4 {
					want = kerr.InvalidProducerEpoch.Code
				}
				assert.Equal(t, want, resp.ErrorCode, "stale producer epoch")
				req.ProducerEpoch = 1
				resp = back(t, c.InitProducerID(context.Background(), wire(t, req)))
				assert.Equal(t, [3]int64{0, 1000, 2}, [3]int64{int64(resp.ErrorCode), resp.ProducerID, int64(resp.ProducerEpoch)})
			}
		})
	}
}

// TestTransaction runs a transaction through AddOffsetsToTxn, TxnOffsetCommit's validation and
// EndTxn at every version of each, committing and aborting.
func TestTransaction(t *testing.T) {
	for v := int16(0); v <= 4; v++ {
		for _, commit := range []bool{true, false} {
			t.Run(fmt.Sprintf("v%d/commit=%v", v, commit), func(t *testing.T) {
				c, rec, _ := newCoord(t, txncoord.Options{})
				p, _ := initProducer(t, c, min(v, 5), "tx", 60_000)
				require.ErrorIs(t, validate(c, 3, p, "g"), kerr.TransactionAbortable, "no transaction yet")
				assert.Equal(t, kerr.InvalidTxnState.Code, endTxn(t, c, v, p, commit), "EndTxn with no transaction")
				require.Zero(t, addOffsets(t, c, v, p, "g"))
				require.Zero(t, addOffsets(t, c, v, p, "g"), "adding again")
				require.NoError(t, validate(c, 3, p, "g"))
				require.ErrorIs(t, validate(c, 3, p, "other"), kerr.TransactionAbortable, "group not in the transaction")
				require.Zero(t, endTxn(t, c, v, p, commit))
				assert.Equal(t, []completion{{1000, []string{"g"}, commit}}, rec.taken())
				assert.Zero(t, endTxn(t, c, v, p, commit), "a retried EndTxn")
				assert.Equal(t, kerr.InvalidTxnState.Code, endTxn(t, c, v, p, !commit), "EndTxn the other way")
				assert.Empty(t, rec.taken())
				require.ErrorIs(t, validate(c, 3, p, "g"), kerr.TransactionAbortable, "the transaction ended")
			})
		}
	}
}

// TestFencing checks that a new InitProducerId for the transactional id aborts the open
// transaction and fences the old producer at every version of each API.
func TestFencing(t *testing.T) {
	for v := int16(0); v <= 4; v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			c, rec, _ := newCoord(t, txncoord.Options{})
			old, _ := initProducer(t, c, 1, "tx", 60_000)
			require.Zero(t, addOffsets(t, c, v, old, "g"))
			cur, code := initProducer(t, c, 1, "tx", 60_000)
			require.Zero(t, code)
			assert.Equal(t, old.epoch+1, cur.epoch)
			assert.Equal(t, []completion{{old.pid, []string{"g"}, false}}, rec.taken(), "the open transaction is aborted")

			want := kerr.ProducerFenced.Code
			if v < 2 {
				want = kerr.InvalidProducerEpoch.Code
			}
			assert.Equal(t, want, endTxn(t, c, v, old, true))
			assert.Equal(t, want, addOffsets(t, c, v, old, "g"))
			assert.ErrorIs(t, validate(c, 3, old, "g"), kerr.ProducerFenced)
			other := producer{"tx", old.pid + 7, old.epoch}
			assert.Equal(t, kerr.InvalidProducerIDMapping.Code, addOffsets(t, c, v, other, "g"))
			assert.Equal(t, kerr.InvalidProducerIDMapping.Code, endTxn(t, c, v, producer{"nobody", 1, 0}, true))
			assert.Empty(t, rec.taken())
		})
	}
}

// TestTimeout checks that a transaction running past its timeout is aborted and its producer
// fenced, and that one within it is left alone.
func TestTimeout(t *testing.T) {
	c, rec, clk := newCoord(t, txncoord.Options{})
	p, _ := initProducer(t, c, 4, "tx", 1000)
	require.Zero(t, addOffsets(t, c, 3, p, "g"))
	clk.add(999 * time.Millisecond)
	assert.Zero(t, c.AbortExpired(context.Background()))
	assert.Empty(t, rec.taken())
	clk.add(time.Millisecond)
	assert.Equal(t, 1, c.AbortExpired(context.Background()))
	assert.Equal(t, []completion{{p.pid, []string{"g"}, false}}, rec.taken())
	assert.Equal(t, kerr.ProducerFenced.Code, endTxn(t, c, 3, p, true), "the producer is fenced")
	assert.Zero(t, c.AbortExpired(context.Background()), "nothing left to abort")
	next, code := initProducer(t, c, 4, "tx", 1000)
	require.Zero(t, code)
	assert.Equal(t, p.epoch+2, next.epoch, "the fenced producer re-initializes at the next epoch")
}

// TestCompletionFailure checks that a transaction whose offsets could not be completed stays
// in progress, answers a retriable code, and completes when EndTxn is retried.
func TestCompletionFailure(t *testing.T) {
	c, rec, _ := newCoord(t, txncoord.Options{})
	p, _ := initProducer(t, c, 4, "tx", 60_000)
	require.Zero(t, addOffsets(t, c, 3, p, "g"))
	rec.err = errors.New("store down")
	assert.Equal(t, kerr.CoordinatorNotAvailable.Code, endTxn(t, c, 3, p, true))
	require.NoError(t, validate(c, 3, p, "g"), "still in progress")
	rec.err = nil
	assert.Zero(t, endTxn(t, c, 3, p, true))
	assert.Len(t, rec.taken(), 2)
}

// TestAddPartitionsToTxn covers AddPartitionsToTxn at every version served.
func TestAddPartitionsToTxn(t *testing.T) {
	topics := protocol.TopicCheckerFunc(func(_ context.Context, topic string) (int32, bool) { return 2, topic == "t" })
	for v := int16(0); v <= 3; v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			c, _, _ := newCoord(t, txncoord.Options{Topics: topics})
			p, _ := initProducer(t, c, 4, "tx", 60_000)
			add := func(p producer, parts map[string][]int32) map[string]int16 {
				req := kmsg.NewPtrAddPartitionsToTxnRequest()
				req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch = v, p.id, p.pid, p.epoch
				for topic, ps := range parts {
					rt := kmsg.NewAddPartitionsToTxnRequestTopic()
					rt.Topic, rt.Partitions = topic, ps
					req.Topics = append(req.Topics, rt)
				}
				out := map[string]int16{}
				for _, rt := range back(t, c.AddPartitionsToTxn(context.Background(), wire(t, req))).Topics {
					for _, rp := range rt.Partitions {
						out[fmt.Sprintf("%s/%d", rt.Topic, rp.Partition)] = rp.ErrorCode
					}
				}
				return out
			}
			assert.Equal(t, map[string]int16{"t/0": 0, "t/1": 0}, add(p, map[string][]int32{"t": {0, 1}}))
			assert.Equal(t, map[string]int16{"t/0": kerr.OperationNotAttempted.Code, "t/2": kerr.UnknownTopicOrPartition.Code,
				"u/0": kerr.UnknownTopicOrPartition.Code}, add(p, map[string][]int32{"t": {0, 2}, "u": {0}}))
			fencedCode := kerr.ProducerFenced.Code
			if v < 2 {
				fencedCode = kerr.InvalidProducerEpoch.Code
			}
			stale := producer{p.id, p.pid, p.epoch - 1}
			assert.Equal(t, map[string]int16{"t/0": fencedCode}, add(stale, map[string][]int32{"t": {0}}))
			require.Zero(t, endTxn(t, c, 3, p, true), "partitions alone make a transaction that can end")
		})
	}
}

// TestImplicitAdd checks that TxnOffsetCommit v5 (transaction protocol 2) adds the group to
// the transaction instead of failing.
func TestImplicitAdd(t *testing.T) {
	c, rec, _ := newCoord(t, txncoord.Options{})
	p, _ := initProducer(t, c, 5, "tx", 60_000)
	require.ErrorIs(t, validate(c, 4, p, "g"), kerr.TransactionAbortable)
	require.NoError(t, validate(c, 5, p, "g"))
	require.Zero(t, endTxn(t, c, 4, p, true))
	assert.Equal(t, []completion{{p.pid, []string{"g"}, true}}, rec.taken())
}

// TestRecover checks that transactions rebuilt from a store's pending offsets can be ended by
// their producer, are aborted by a new InitProducerId, and that new producer ids do not
// collide with them.
func TestRecover(t *testing.T) {
	c, rec, _ := newCoord(t, txncoord.Options{})
	c.Recover([]offsetstore.PendingGroup{
		{Group: "g1", Txn: offsetstore.PendingTxn{TransactionalID: "a", ProducerID: 5000, ProducerEpoch: 3}},
		{Group: "g2", Txn: offsetstore.PendingTxn{TransactionalID: "a", ProducerID: 5000, ProducerEpoch: 3}},
		{Group: "g1", Txn: offsetstore.PendingTxn{TransactionalID: "b", ProducerID: 6000, ProducerEpoch: 0}},
	})
	a := producer{"a", 5000, 3}
	require.NoError(t, validate(c, 3, a, "g2"))
	require.Zero(t, endTxn(t, c, 3, a, true))
	calls := rec.taken()
	require.Len(t, calls, 1)
	assert.ElementsMatch(t, []string{"g1", "g2"}, calls[0].Groups)
	b, code := initProducer(t, c, 4, "b", 60_000)
	require.Zero(t, code)
	assert.Equal(t, producer{"b", 6000, 1}, b)
	assert.Equal(t, []completion{{6000, []string{"g1"}, false}}, rec.taken())
	n, _ := initProducer(t, c, 4, "new", 60_000)
	assert.Equal(t, int64(6001), n.pid)
}

// TestEndToEnd runs transactions through a protocol.Handler over memstore with the
// Coordinator as its TxnValidator and its Handler as the Coordinator's Completer.
func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	st := memstore.New(memstore.Options{})
	defer st.Close()
	var h *protocol.Handler
	c, _, _ := newCoord(t, txncoord.Options{Completer: txncoord.CompleterFunc(func(ctx context.Context, pid int64, groups []string, commit bool) error {
		return h.CompleteTransaction(ctx, pid, groups, commit)
	})})
	h = protocol.New(st, protocol.Options{Transactions: c})
	commit := func(p producer, off int64) int16 {
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.Version, req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = 3, p.id, "g", p.pid, p.epoch
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Offset = off
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := h.TxnOffsetCommit(ctx, req)
		require.NoError(t, err)
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	committed := func() int64 {
		m, err := st.Fetch(ctx, "g", []offsetstore.TopicPartition{{Topic: "t"}})
		require.NoError(t, err)
		if o, ok := m[offsetstore.TopicPartition{Topic: "t"}]; ok {
			return o.Offset
		}
		return -1
	}
	p, _ := initProducer(t, c, 4, "tx", 60_000)
	assert.Equal(t, kerr.InvalidTxnState.Code, commit(p, 1), "before AddOffsetsToTxn")
	require.Zero(t, addOffsets(t, c, 3, p, "g"))
	require.Zero(t, commit(p, 10))
	assert.EqualValues(t, -1, committed())
	require.Zero(t, endTxn(t, c, 3, p, true))
	assert.EqualValues(t, 10, committed())

	require.Zero(t, addOffsets(t, c, 3, p, "g"))
	require.Zero(t, commit(p, 20))
	zombie := p
	p, _ = initProducer(t, c, 4, "tx", 60_000) // fences the zombie, aborting its offsets
	assert.EqualValues(t, 10, committed())
	assert.Equal(t, kerr.InvalidProducerEpoch.Code, commit(zombie, 30))
	pending, err := st.PendingPartitions(ctx, "g")
	require.NoError(t, err)
	assert.Empty(t, pending)
}

// TestClose checks that Close stops the timeout goroutine and returns.
func TestClose(t *testing.T) {
	c, err := txncoord.New(txncoord.Options{Completer: &recorder{}, CheckInterval: time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.NoError(t, c.Close())
	_, err = txncoord.New(txncoord.Options{})
	assert.Error(t, err, "a Completer is required")
}
