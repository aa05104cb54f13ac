package txncoord

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/offsetstore"
)

// APIVersions returns the APIs a Coordinator answers with the versions it serves: the
// transaction protocol 1 versions of each (EndTxn v5 and AddPartitionsToTxn v4+ belong to
// transaction protocol 2 and to brokers, which a Coordinator does not speak).
func APIVersions() []kmsg.ApiVersionsResponseApiKey {
	var out []kmsg.ApiVersionsResponseApiKey
	for _, a := range []struct {
		key kmsg.Key
		max int16
	}{{kmsg.InitProducerID, 5}, {kmsg.AddPartitionsToTxn, 3}, {kmsg.AddOffsetsToTxn, 4}, {kmsg.EndTxn, 4}} {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key.Int16(), 0, a.max
		out = append(out, k)
	}
	return out
}

// fenced is the code a client at version v gets for PRODUCER_FENCED: clients before KIP-588
// (InitProducerId v4, AddPartitionsToTxn, AddOffsetsToTxn and EndTxn v2) know only
// INVALID_PRODUCER_EPOCH.
func fenced(code int16, v, since int16) int16 {
	if code == kerr.ProducerFenced.Code && v < since {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}

// InitProducerID answers InitProducerId (v0-v5). Without a transactional id it hands out a new
// producer id (an idempotent producer). With one it validates the transaction timeout
// (INVALID_TRANSACTION_TIMEOUT beyond Options.MaxTimeout), and from v3 the producer id and
// epoch the client already has (KIP-360); it then bumps the epoch, which fences the previous
// producer of the transactional id and aborts its transaction in progress, or hands out a
// new producer id for a new transactional id or an exhausted epoch.
func (c *Coordinator) InitProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	fail := func(code int16) *kmsg.InitProducerIDResponse {
		resp.ErrorCode = fenced(code, req.Version, 4)
		return resp
	}
	if req.TransactionalID == nil {
		c.mu.Lock()
		resp.ProducerID, resp.ProducerEpoch = c.allocPID(), 0
		c.mu.Unlock()
		return resp
	}
	id := *req.TransactionalID
	timeout := time.Duration(req.TransactionTimeoutMillis) * time.Millisecond
	switch {
	case id == "":
		return fail(kerr.InvalidRequest.Code)
	case req.TransactionTimeoutMillis <= 0 || timeout > c.maxTO:
		return fail(kerr.InvalidTransactionTimeout.Code)
	}
	c.mu.Lock()
	t := c.txns[id]
	if t == nil {
		t = &txn{pid: c.allocPID(), epoch: 0, timeout: timeout, state: stateEmpty,
			groups: map[string]bool{}, partitions: map[offsetstore.TopicPartition]bool{}}
		c.txns[id] = t
		resp.ProducerID, resp.ProducerEpoch = t.pid, t.epoch
		c.mu.Unlock()
		return resp
	}
	if req.Version >= 3 && req.ProducerID != -1 && (req.ProducerID != t.pid || req.ProducerEpoch != t.epoch) {
		c.mu.Unlock()
		return fail(kerr.ProducerFenced.Code)
	}
	if t.state == statePrepareCommit || t.state == statePrepareAbort {
		c.mu.Unlock()
		return fail(kerr.ConcurrentTransactions.Code)
	}
	pid := t.pid
	c.bumpEpoch(t)
	t.timeout = timeout
	ongoing := t.state == stateOngoing
	var groups []string
	if ongoing {
		groups = c.prepare(t, false)
	}
	c.mu.Unlock()
	if ongoing {
		if code := c.complete(ctx, id, t, pid, groups, false); code != 0 {
			return fail(code)
		}
	}
	c.mu.Lock()
	t.state = stateEmpty
	resp.ProducerID, resp.ProducerEpoch = t.pid, t.epoch
	c.mu.Unlock()
	return resp
}

// AddOffsetsToTxn answers AddOffsetsToTxn (v0-v4): the group's offsets join the producer's
// transaction, which starts if none is in progress.
func (c *Coordinator) AddOffsetsToTxn(_ context.Context, req *kmsg.AddOffsetsToTxnRequest) *kmsg.AddOffsetsToTxnResponse {
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	t, code := c.producer(req.TransactionalID, req.ProducerID, req.ProducerEpoch)
	if code == 0 {
		code = c.begin(t)
	}
	if code == 0 {
		t.groups[req.Group] = true
	}
	resp.ErrorCode = fenced(code, req.Version, 2)
	return resp
}

// AddPartitionsToTxn answers AddPartitionsToTxn (v0-v3): the partitions join the producer's
// transaction. A partition of an unknown topic gets UNKNOWN_TOPIC_OR_PARTITION and the others
// OPERATION_NOT_ATTEMPTED, as in Kafka; a producer error goes on every partition.
func (c *Coordinator) AddPartitionsToTxn(ctx context.Context, req *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	unknown := map[offsetstore.TopicPartition]bool{}
	for _, t := range req.Topics {
		n, ok := int32(1<<31-1), true
		if c.topics != nil {
			n, ok = c.topics.PartitionCount(ctx, t.Topic)
		}
		for _, p := range t.Partitions {
			if !ok || p < 0 || p >= n {
				unknown[offsetstore.TopicPartition{Topic: t.Topic, Partition: p}] = true
			}
		}
	}
	var code int16
	if len(unknown) == 0 {
		c.mu.Lock()
		var t *txn
		t, code = c.producer(req.TransactionalID, req.ProducerID, req.ProducerEpoch)
		if code == 0 {
			code = c.begin(t)
		}
		if code == 0 {
			for _, rt := range req.Topics {
				for _, p := range rt.Partitions {
					t.partitions[offsetstore.TopicPartition{Topic: rt.Topic, Partition: p}] = true
				}
			}
		}
		c.mu.Unlock()
		code = fenced(code, req.Version, 2)
	}
	for _, t := range req.Topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, code
			if len(unknown) > 0 {
				rp.ErrorCode = kerr.OperationNotAttempted.Code
				if unknown[offsetstore.TopicPartition{Topic: t.Topic, Partition: p}] {
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// EndTxn answers EndTxn (v0-v4): it commits or aborts the producer's transaction in progress,
// completing the pending offsets of its groups before it answers. Ending a transaction that
// already ended the same way answers NONE (a retry); the other way, or with no transaction
// since the last, INVALID_TXN_STATE; while one completes, CONCURRENT_TRANSACTIONS.
func (c *Coordinator) EndTxn(ctx context.Context, req *kmsg.EndTxnRequest) *kmsg.EndTxnResponse {
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	c.mu.Lock()
	t, code := c.producer(req.TransactionalID, req.ProducerID, req.ProducerEpoch)
	if code == 0 {
		switch t.state {
		case stateOngoing:
			pid, groups := t.pid, c.prepare(t, req.Commit)
			c.mu.Unlock()
			resp.ErrorCode = c.complete(ctx, req.TransactionalID, t, pid, groups, req.Commit)
			return resp
		case statePrepareCommit, statePrepareAbort:
			code = kerr.ConcurrentTransactions.Code
		case stateCompleteCommit:
			if !req.Commit {
				code = kerr.InvalidTxnState.Code
			}
		case stateCompleteAbort:
			if req.Commit {
				code = kerr.InvalidTxnState.Code
			}
		default:
			code = kerr.InvalidTxnState.Code
		}
	}
	c.mu.Unlock()
	resp.ErrorCode = fenced(code, req.Version, 2)
	return resp
}
