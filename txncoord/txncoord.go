// Package txncoord is a transaction coordinator for offsets-only Kafka transactions: the part
// of Kafka's TransactionCoordinator that exactly-once consumers need when a gateway stores
// their offsets but has no logs. It answers InitProducerId, AddOffsetsToTxn,
// AddPartitionsToTxn and EndTxn the way Kafka does (KIP-98, KIP-360, KIP-588, KIP-890
// part 1), validates the producer of every TxnOffsetCommit for a protocol.Handler (it is a
// protocol.TxnValidator), and completes a transaction's pending offsets when it ends, through
// a Completer such as protocol.Handler.CompleteTransaction: the equivalent of the transaction
// markers Kafka writes.
//
// A transaction that runs longer than its transaction.timeout.ms is aborted, and its
// producer fenced (its epoch bumped), as Kafka does; a goroutine started by New checks every
// Options.CheckInterval and is stopped by Close. Partitions added with AddPartitionsToTxn are
// remembered, since clients add them, but nothing is written to them: there is no Produce.
//
// State is kept in memory. Pending offsets outlive a restart when the store keeps them
// (offsetstore.PendingCommitter); Recover rebuilds the transactions they belong to, so that a
// producer that committed offsets before the restart can still commit or abort them.
//
// A Coordinator is safe for concurrent use.
package txncoord

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/protocol"
)

// Defaults of Options, Kafka's.
const (
	// DefaultMaxTimeout is transaction.max.timeout.ms: the longest transaction timeout a
	// producer may ask for.
	DefaultMaxTimeout = 15 * time.Minute
	// DefaultCheckInterval is transaction.abort.timed.out.transaction.cleanup.interval.ms.
	DefaultCheckInterval = 10 * time.Second
)

// Completer completes a transaction's pending offsets in each of groups, committing them or
// dropping them; protocol.Handler.CompleteTransaction is one. It must be idempotent.
type Completer interface {
	CompleteTransaction(ctx context.Context, producerID int64, groups []string, commit bool) error
}

// CompleterFunc adapts a function to a Completer.
type CompleterFunc func(ctx context.Context, producerID int64, groups []string, commit bool) error

// CompleteTransaction calls f(ctx, producerID, groups, commit).
func (f CompleterFunc) CompleteTransaction(ctx context.Context, producerID int64, groups []string, commit bool) error {
	return f(ctx, producerID, groups, commit)
}

// Options configures a Coordinator. Completer is required; the rest have working zero values.
type Options struct {
	// Completer completes the pending offsets of a transaction that ends.
	Completer Completer
	// Topics, when set, checks the partitions of AddPartitionsToTxn: a partition of an
	// unknown topic, or beyond its count, gets UNKNOWN_TOPIC_OR_PARTITION. nil accepts all.
	Topics protocol.TopicChecker
	// MaxTimeout is transaction.max.timeout.ms. Zero means DefaultMaxTimeout.
	MaxTimeout time.Duration
	// CheckInterval is how often timed-out transactions are looked for. Zero means
	// DefaultCheckInterval; negative starts no goroutine (a test calls AbortExpired).
	CheckInterval time.Duration
	// Now is the clock of transaction timeouts. nil means time.Now.
	Now func() time.Time
	// FirstProducerID is the first producer id handed out; later ones count up from it. Zero
	// picks a random one below 2^62, so that gateways sharing a store are unlikely to hand out
	// the same ids.
	FirstProducerID int64
	// Logger receives completion failures. nil discards.
	Logger *slog.Logger
}

// state is a transaction's state, Kafka's TransactionState without the log's intermediate ones.
type state int8

const (
	stateEmpty         state = iota // no transaction since the producer id was handed out
	stateOngoing                    // a transaction is in progress
	statePrepareCommit              // EndTxn(commit) is completing the pending offsets
	statePrepareAbort               // an abort is completing them
	stateCompleteCommit
	stateCompleteAbort
)

// txn is one transactional id's producer and its current transaction.
type txn struct {
	pid        int64
	epoch      int16
	timeout    time.Duration
	state      state
	started    time.Time
	groups     map[string]bool
	partitions map[offsetstore.TopicPartition]bool
}

// Coordinator is an offsets-only transaction coordinator. Create it with New and stop it with
// Close.
type Coordinator struct {
	done     Completer
	topics   protocol.TopicChecker
	maxTO    time.Duration
	now      func() time.Time
	log      *slog.Logger
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu      sync.Mutex
	txns    map[string]*txn
	nextPID int64
}

var _ protocol.TxnValidator = (*Coordinator)(nil)

// New returns a Coordinator and starts its timeout goroutine (see Options.CheckInterval).
func New(opts Options) (*Coordinator, error) {
	if opts.Completer == nil {
		return nil, errors.New("txncoord: Options.Completer is required")
	}
	c := &Coordinator{
		done:    opts.Completer,
		topics:  opts.Topics,
		maxTO:   opts.MaxTimeout,
		now:     opts.Now,
		log:     opts.Logger,
		stop:    make(chan struct{}),
		txns:    make(map[string]*txn),
		nextPID: opts.FirstProducerID,
	}
	if c.maxTO <= 0 {
		c.maxTO = DefaultMaxTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.nextPID <= 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		c.nextPID = int64(binary.BigEndian.Uint64(b[:])>>2) + 1
	}
	interval := opts.CheckInterval
	if interval == 0 {
		interval = DefaultCheckInterval
	}
	if interval > 0 {
		c.wg.Add(1)
		go c.expireLoop(interval)
	}
	return c, nil
}

// Close stops the timeout goroutine. Transactions in progress stay pending in the store.
func (c *Coordinator) Close() error {
	c.stopOnce.Do(func() { close(c.stop) })
	c.wg.Wait()
	return nil
}

func (c *Coordinator) expireLoop(interval time.Duration) {
	defer c.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-c.stop
		cancel()
	}()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.AbortExpired(ctx)
		}
	}
}

// AbortExpired aborts every transaction in progress for longer than its timeout, fencing its
// producer by bumping the epoch, as Kafka's coordinator does, and returns how many it
// aborted. The timeout goroutine calls it; tests with a fake clock call it directly.
func (c *Coordinator) AbortExpired(ctx context.Context) int {
	now := c.now()
	type expired struct {
		id string
		t  *txn
	}
	var list []expired
	c.mu.Lock()
	for id, t := range c.txns {
		if t.state == stateOngoing && now.Sub(t.started) >= t.timeout {
			list = append(list, expired{id, t})
		}
	}
	c.mu.Unlock()
	n := 0
	for _, e := range list {
		c.mu.Lock()
		if c.txns[e.id] != e.t || e.t.state != stateOngoing {
			c.mu.Unlock()
			continue
		}
		pid := e.t.pid
		c.bumpEpoch(e.t)
		groups := c.prepare(e.t, false)
		c.mu.Unlock()
		if c.complete(ctx, e.id, e.t, pid, groups, false) == 0 {
			n++
		}
	}
	return n
}

// bumpEpoch fences t's producer: the next epoch, or a new producer id when the epoch is
// exhausted. The caller holds c.mu.
func (c *Coordinator) bumpEpoch(t *txn) {
	if t.epoch >= math.MaxInt16-1 {
		t.pid, t.epoch = c.allocPID(), 0
		return
	}
	t.epoch++
}

// allocPID hands out the next producer id. The caller holds c.mu.
func (c *Coordinator) allocPID() int64 {
	pid := c.nextPID
	c.nextPID++
	return pid
}

// prepare moves t to PrepareCommit or PrepareAbort, so that no other request changes it
// while complete runs, and returns the groups to complete. The caller holds c.mu.
func (c *Coordinator) prepare(t *txn, commit bool) []string {
	t.state = statePrepareAbort
	if commit {
		t.state = statePrepareCommit
	}
	groups := make([]string, 0, len(t.groups))
	for g := range t.groups {
		groups = append(groups, g)
	}
	return groups
}

// complete completes the pending offsets that producer id pid (t's, or the one it had before
// a fence gave it a new one) holds in groups, and moves t, which prepare prepared, to the
// completed state. On a completion failure the transaction goes back to Ongoing and the
// retriable code is returned, for the client (or the next timeout check) to retry.
func (c *Coordinator) complete(ctx context.Context, id string, t *txn, pid int64, groups []string, commit bool) int16 {
	err := c.done.CompleteTransaction(ctx, pid, groups, commit)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.log.WarnContext(ctx, "completing a transaction's offsets failed; it stays in progress",
			"transactional_id", id, "producer_id", pid, "commit", commit, "err", err)
		t.state = stateOngoing
		return kerr.CoordinatorNotAvailable.Code
	}
	t.state = stateCompleteAbort
	if commit {
		t.state = stateCompleteCommit
	}
	t.groups, t.partitions = map[string]bool{}, map[offsetstore.TopicPartition]bool{}
	return 0
}

// Recover rebuilds the transactions of pending offsets a store kept across a restart (see
// offsetstore.PendingCommitter.ListPending): each becomes a transaction in progress, started
// now, that its producer can end with EndTxn, that a new InitProducerId for its
// transactional id aborts, and that times out after the longest timeout allowed if nobody
// ends it. Producer ids handed out afterwards are above every recovered one.
func (c *Coordinator) Recover(pending []offsetstore.PendingGroup) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for _, p := range pending {
		t := c.txns[p.Txn.TransactionalID]
		if t == nil || t.pid != p.Txn.ProducerID || t.epoch < p.Txn.ProducerEpoch {
			t = &txn{pid: p.Txn.ProducerID, epoch: p.Txn.ProducerEpoch, timeout: c.maxTO, state: stateOngoing,
				started: now, groups: map[string]bool{}, partitions: map[offsetstore.TopicPartition]bool{}}
			c.txns[p.Txn.TransactionalID] = t
		}
		t.groups[p.Group] = true
		if p.Txn.ProducerID >= c.nextPID {
			c.nextPID = p.Txn.ProducerID + 1
		}
	}
}

// producer checks that pid and epoch are the transactional id's current producer: the error
// code Kafka's coordinator gives, 0 when they are. The caller holds c.mu.
func (c *Coordinator) producer(id string, pid int64, epoch int16) (*txn, int16) {
	t := c.txns[id]
	switch {
	case t == nil, t.pid != pid:
		return nil, kerr.InvalidProducerIDMapping.Code
	case t.epoch != epoch:
		return nil, kerr.ProducerFenced.Code
	}
	return t, 0
}

// begin adds group (or partitions) to t's transaction, starting one if none is in progress:
// CONCURRENT_TRANSACTIONS while the last one completes. The caller holds c.mu.
func (c *Coordinator) begin(t *txn) int16 {
	switch t.state {
	case statePrepareCommit, statePrepareAbort:
		return kerr.ConcurrentTransactions.Code
	case stateOngoing:
	default:
		t.state, t.started = stateOngoing, c.now()
	}
	return 0
}

// ValidateTxn implements protocol.TxnValidator with the checks of Kafka's transaction
// verification: the producer id and epoch, a transaction not completing, and the group in
// the transaction. From TxnOffsetCommit v5 (transaction protocol 2) the group is added to the
// transaction instead.
func (c *Coordinator) ValidateTxn(_ context.Context, req protocol.TxnRequest) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, code := c.producer(req.TransactionalID, req.ProducerID, req.ProducerEpoch)
	if code != 0 {
		return kerr.ErrorForCode(code)
	}
	if t.state == statePrepareCommit || t.state == statePrepareAbort {
		return kerr.ConcurrentTransactions
	}
	if t.state == stateOngoing && t.groups[req.Group] {
		return nil
	}
	if req.Version >= 5 {
		c.begin(t)
		t.groups[req.Group] = true
		return nil
	}
	return kerr.TransactionAbortable
}
