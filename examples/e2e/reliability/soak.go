package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/offsetkit/offsetkit/filerstore/weedtest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// soakTopic is the topic the soak's clients commit to.
const soakTopic = "soak"

// soakConfig configures a soak run.
type soakConfig struct {
	Weed       *weedtest.Server // a running filer; the soak kills and restarts it
	GatewayBin string           // the built gateway binary
	Root       string           // the filer root the gateway keeps its offsets under
	Clients    int              // concurrent committing clients, each with its own group
	Partitions int              // partitions per client's group
	Duration   time.Duration    // how long the clients commit
	Kills      int              // SIGKILLs of weed, evenly spaced
	Down       time.Duration    // how long weed stays dead before the restart
	// Pauses are SIGSTOPs of weed (a hung filer), after the kills; the 1st, 3rd, ... last
	// PauseFor, the others a quarter of it.
	Pauses   int
	PauseFor time.Duration
	// RequestTimeout is how long a client waits for an answer before it gives up on the
	// connection (a transport error) and reconnects. Default 10 s.
	RequestTimeout time.Duration
	// Groups consumer groups of Members kgo group members each commit to their own topic
	// while, every Churn, one member leaves or joins again. Zero Groups: none.
	Groups, Members int
	Churn           time.Duration
	// Watch is the pause between two rounds of fetches that check, during the soak, that no
	// key ever reads older than its newest acknowledged offset. Default 100 ms.
	Watch time.Duration
	Seed  uint64
	Logf  func(format string, args ...any)
}

// outageReport is what one kill and restart of weed looked like.
type outageReport struct {
	Kind      string        // "SIGKILL" or "SIGSTOP"
	KilledAt  time.Duration // since the soak started
	Down      time.Duration // from the kill (stop) to the restart command (SIGCONT)
	Restart   time.Duration // from the restart command to a filer that answers
	Recovered time.Duration // from the kill to the first acknowledged commit after the restart command
}

// soakReport is the outcome of a soak.
type soakReport struct {
	Clients, Partitions, Keys int
	Duration                  time.Duration // wall time of the committing phase
	Requests                  int64         // OffsetCommit requests sent
	Commits                   int64         // partition commits attempted
	Acked                     int64         // partition commits answered NONE
	Refused                   int64         // partition commits answered with a retriable code
	RefusedByCode             map[string]int64
	NonRetriable              int64 // partition commits answered with a non-retriable code
	NonRetriableByCode        map[string]int64
	Transport                 int64 // requests that failed in transport (reset, EOF, timeout)
	Dials                     int64 // connections opened by the clients
	AckedWhileDown            int64 // partition commits answered NONE while weed was dead
	Outages                   []outageReport
	// Read-back, one entry per key: Lost and Phantom must be zero.
	AtLastAck       int // read back exactly the last acknowledged offset
	AtLaterAttempt  int // read back a later, unacknowledged attempt (it reached the filer)
	NeverAckedEmpty int // never acknowledged, nothing stored
	Lost            int // older than the last acknowledgement, or absent
	Stale           int // of Lost: present, but older than the last acknowledgement
	Unanswered      int // older than the last acknowledgement, from a commit the client got no answer to
	Phantom         int // a value never sent for the key
	LostKeys        []string
	ReadbackTime    time.Duration
	GatewayPeakRSS  int64
	GatewayExit     error // the gateway's exit on SIGTERM after the soak; nil is clean
	GatewayCrashed  bool
	// Groups is what the consumer groups did and how their keys read back; nil without groups.
	Groups *groupsReport
	// Watch is what the fetches during the soak saw.
	Watch *watchReport
}

// StaleOverwrites counts the values older than an acknowledged one that were stored: read back
// at the end (raw clients' and groups' keys) or read by a fetch during the soak. Values whose
// commit the client gave up on without an answer count too (UnansweredLate says how many of
// them there were): the gateway applies a group's writes in the order it accepted them, as
// Kafka's coordinator appends them, so such a commit either landed before the newer one or
// never.
func (r *soakReport) StaleOverwrites() int64 {
	n := int64(r.Stale) + r.UnansweredLate()
	if r.Groups != nil {
		n += int64(r.Groups.Stale)
	}
	if r.Watch != nil {
		n += r.Watch.Stale
	}
	return n
}

// UnansweredLate counts the values older than an acknowledged one that were read, at the end or
// during the soak, and that a commit wrote whose client had given up on it without an answer:
// the gateway had accepted it and was still writing it when the client sent the newer one.
func (r *soakReport) UnansweredLate() int64 {
	n := int64(r.Unanswered)
	if r.Groups != nil {
		n += int64(r.Groups.Unanswered)
	}
	if r.Watch != nil {
		n += r.Watch.Unanswered
	}
	return n
}

// keyState is one (group, partition)'s history as its client saw it.
type keyState struct {
	lastAcked int64   // -1: never acknowledged
	pending   []int64 // values attempted after lastAcked whose fate is unknown
}

// soakClient is one committing client and its counters.
type soakClient struct {
	id      int
	group   string
	version int16
	keys    []keyState
	tracks  []*keyTrack // the stale-overwrite check's view of keys
	tr      *tracker

	requests, commits, acked, refused, nonRetriable, transport, dials, ackedWhileDown int64
	refusedBy, nonRetriableBy                                                         map[string]int64
}

// soakVersions are the OffsetCommit versions the clients use, one per client in turn.
var soakVersions = []int16{2, 5, 7, 8, 9}

// runSoak runs the soak: clients commit through a gateway process over cfg.Weed while weed is
// killed and restarted, then every key is read back through the gateway.
func runSoak(ctx context.Context, cfg soakConfig) (*soakReport, error) {
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	topics := fmt.Sprintf("%s:%d", soakTopic, cfg.Partitions)
	if cfg.Groups > 0 {
		topics += fmt.Sprintf(",%s:%d", soakGroupTopic, soakGroupPartitions)
	}
	gw, err := startGateway(ctx, cfg.GatewayBin, "-store", "filer", "-filer", cfg.Weed.Addr(),
		"-filer-root", cfg.Root, "-topics", topics, "-log-level", "info")
	if err != nil {
		return nil, err
	}
	defer func() {
		if gw.running() {
			gw.kill()
		}
	}()
	mem := sampleMemory(gw.cmd.Process.Pid, 100*time.Millisecond)

	rep := &soakReport{Clients: cfg.Clients, Partitions: cfg.Partitions, Keys: cfg.Clients * cfg.Partitions,
		RefusedByCode: map[string]int64{}, NonRetriableByCode: map[string]int64{}}

	// outage is odd while weed is down (between Kill or Pause returning and the restart or
	// SIGCONT command). firstAck is armed (0) at the restart command; the first acknowledged
	// commit after it stores its time (unix nanoseconds); -1 is disarmed.
	var outage, firstAck atomic.Int64
	firstAck.Store(-1)
	clients := make([]*soakClient, cfg.Clients)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	timeout := cfg.RequestTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	tr := newTracker()
	for i := range clients {
		c := &soakClient{id: i, group: fmt.Sprintf("soak-%03d", i), version: soakVersions[i%len(soakVersions)],
			keys: make([]keyState, cfg.Partitions), refusedBy: map[string]int64{}, nonRetriableBy: map[string]int64{}, tr: tr}
		for p := range c.keys {
			c.keys[p].lastAcked = -1
			c.tracks = append(c.tracks, tr.add(keyID{c.group, soakTopic, int32(p)}))
		}
		clients[i] = c
	}
	var gs *groupSoak
	if cfg.Groups > 0 {
		churn := cfg.Churn
		if churn <= 0 {
			churn = time.Second
		}
		gs = newGroupSoak(gw.addr, cfg.Groups, max(cfg.Members, 1), churn, tr, cfg.Seed)
	}
	every := cfg.Watch
	if every <= 0 {
		every = 100 * time.Millisecond
	}
	start := time.Now()
	watched := make(chan *watchReport, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		watched <- watch(runCtx, gw.addr, tr, every)
	}()
	if gs != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gs.run(runCtx)
		}()
	}
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(runCtx, gw.addr, cfg.Partitions, timeout, &outage, &firstAck)
		}()
	}

	// The fault schedule: kills, then pauses, evenly spaced, each followed by its downtime,
	// the restart (or SIGCONT), and at least minUp of service before the next fault or the end.
	const minUp = 2 * time.Second
	faults := cfg.Kills + cfg.Pauses
	interval := cfg.Duration / time.Duration(faults+1)
	var faultErr error
	for k := 1; k <= faults; k++ {
		at := start.Add(time.Duration(k) * interval)
		if !sleepUntil(ctx, at) {
			break
		}
		kill := k <= cfg.Kills
		o := outageReport{Kind: "SIGKILL"}
		down, stopFn, startFn := cfg.Down, cfg.Weed.Kill, cfg.Weed.Restart
		if !kill {
			o.Kind, down, stopFn, startFn = "SIGSTOP", cfg.PauseFor, cfg.Weed.Pause, cfg.Weed.Resume
			if (k-cfg.Kills)%2 == 0 {
				down = cfg.PauseFor / 4
			}
		}
		killedAt := time.Now()
		if err := stopFn(); err != nil {
			faultErr = fmt.Errorf("fault %d (%s): %w", k, o.Kind, err)
			break
		}
		outage.Add(1)
		logf("soak: %s of weed at %v", o.Kind, killedAt.Sub(start).Round(time.Millisecond))
		sleepUntil(ctx, killedAt.Add(down))
		outage.Add(1)
		restartAt := time.Now()
		firstAck.Store(0)
		if err := startFn(); err != nil {
			faultErr = fmt.Errorf("fault %d (%s): restart: %w", k, o.Kind, err)
			break
		}
		ready := time.Now()
		o.KilledAt, o.Down, o.Restart = killedAt.Sub(start), restartAt.Sub(killedAt), ready.Sub(restartAt)
		// Wait for the first acknowledgement after the restart.
		for firstAck.Load() == 0 && time.Since(ready) < 60*time.Second && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		if t := firstAck.Swap(-1); t > 0 {
			o.Recovered = time.Unix(0, t).Sub(killedAt)
		}
		rep.Outages = append(rep.Outages, o)
		logf("soak: weed back after %v (restart took %v); commits acknowledged again %v after the fault",
			o.Down.Round(time.Millisecond), o.Restart.Round(time.Millisecond), o.Recovered.Round(time.Millisecond))
		if k == faults || time.Until(start.Add(time.Duration(k+1)*interval)) < minUp {
			sleepUntil(ctx, time.Now().Add(minUp))
		}
	}
	sleepUntil(ctx, start.Add(cfg.Duration))
	stop()
	wg.Wait()
	rep.Duration = time.Since(start)
	rep.Watch = <-watched
	if gs != nil {
		rep.Groups = gs.report()
	}
	if faultErr != nil {
		rep.GatewayPeakRSS, _ = mem.Close()
		return rep, faultErr
	}
	if ctx.Err() != nil {
		rep.GatewayPeakRSS, _ = mem.Close()
		return rep, ctx.Err()
	}

	for _, c := range clients {
		rep.Requests += c.requests
		rep.Commits += c.commits
		rep.Acked += c.acked
		rep.Refused += c.refused
		rep.NonRetriable += c.nonRetriable
		rep.Transport += c.transport
		rep.Dials += c.dials
		rep.AckedWhileDown += c.ackedWhileDown
		for k, v := range c.refusedBy {
			rep.RefusedByCode[k] += v
		}
		for k, v := range c.nonRetriableBy {
			rep.NonRetriableByCode[k] += v
		}
	}
	rep.GatewayCrashed = !gw.running()

	// Read every key back through the gateway (a fresh connection, after weed is healthy).
	rbStart := time.Now()
	if !rep.GatewayCrashed {
		if err := readBack(ctx, gw.addr, clients, cfg.Partitions, rep); err != nil {
			rep.GatewayPeakRSS, _ = mem.Close()
			return rep, err
		}
		if rep.Groups != nil {
			if err := readBackGroups(ctx, gw.addr, tr, rep.Groups); err != nil {
				rep.GatewayPeakRSS, _ = mem.Close()
				return rep, err
			}
		}
	}
	rep.ReadbackTime = time.Since(rbStart)
	rep.GatewayPeakRSS, _ = mem.Close()
	if !rep.GatewayCrashed {
		rep.GatewayExit = gw.stop()
	} else {
		rep.GatewayExit = fmt.Errorf("gateway exited during the soak: %v\n%s", gw.err, gw.logs())
	}
	return rep, nil
}

// run commits until ctx is done: each request commits either all of the client's partitions
// or one of them, at the next value of a per-client counter, so every key sees strictly
// increasing offsets.
func (c *soakClient) run(ctx context.Context, addr string, partitions int, timeout time.Duration, outage, firstAck *atomic.Int64) {
	var conn *kafkaConn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	var n int64
	for ctx.Err() == nil {
		if conn == nil {
			var err error
			conn, err = dialKafka(addr, fmt.Sprintf("soak-client-%d", c.id), timeout)
			c.dials++
			if err != nil {
				c.transport++
				conn = nil
				sleepCtx(ctx, 100*time.Millisecond)
				continue
			}
		}
		n++
		parts := []int32{int32(n % int64(partitions))}
		if n%3 == 0 {
			parts = parts[:0]
			for p := range partitions {
				parts = append(parts, int32(p))
			}
		}
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = c.version
		req.Group = c.group
		req.Generation = -1
		req.RetentionTimeMillis = -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = soakTopic
		for _, p := range parts {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition = p
			rp.Offset = n
			rp.LeaderEpoch = 1
			rp.Metadata = kmsg.StringPtr(fmt.Sprintf("c%d-%d", c.id, n))
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)

		c.requests++
		c.commits += int64(len(parts))
		for _, p := range parts {
			c.keys[p].pending = append(c.keys[p].pending, n)
		}
		before := outage.Load()
		resp, err := conn.do(req)
		after := outage.Load()
		if err != nil {
			for _, p := range parts {
				c.tr.giveUp(c.tracks[p], n)
			}
			c.transport++
			conn.Close()
			conn = nil
			sleepCtx(ctx, 50*time.Millisecond)
			continue
		}
		got := map[int32]int16{}
		for _, t := range resp.(*kmsg.OffsetCommitResponse).Topics {
			for _, p := range t.Partitions {
				got[p.Partition] = p.ErrorCode
			}
		}
		refused := false
		for _, p := range parts {
			code, ok := got[p]
			switch {
			case !ok:
				c.nonRetriable++
				c.nonRetriableBy["missing partition in response"]++
			case code == 0:
				c.acked++
				firstAck.CompareAndSwap(0, time.Now().UnixNano())
				c.keys[p].lastAcked = n
				c.keys[p].pending = c.keys[p].pending[:0]
				c.tr.ack(c.tracks[p], n)
				if before == after && before%2 == 1 {
					c.ackedWhileDown++
				}
			case kerr.IsRetriable(kerr.ErrorForCode(code)):
				c.refused++
				c.refusedBy[kerr.ErrorForCode(code).(*kerr.Error).Message]++
				refused = true
			default:
				c.nonRetriable++
				c.nonRetriableBy[codeName(code)]++
				refused = true
			}
		}
		if refused {
			sleepCtx(ctx, 50*time.Millisecond)
		}
	}
}

// readBacker reads keys back through the gateway once the soak is over, over one connection
// that it opens again when it breaks, retrying until a deadline (the filer may still be
// recovering). Close closes its connection.
type readBacker struct {
	addr, clientID, what string
	deadline             time.Time
	conn                 *kafkaConn
}

// read returns what fetch reads, retrying every 200 ms on a fresh connection after a transport
// error and on the same one after an error code, until r's deadline.
func (r *readBacker) read(ctx context.Context, fetch func(*kafkaConn) (map[int32]int64, error)) (map[int32]int64, error) {
	for {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if time.Now().After(r.deadline) {
			return nil, fmt.Errorf("%s: the gateway did not answer OffsetFetch within 60 s", r.what)
		}
		var err error
		if r.conn == nil {
			if r.conn, err = dialKafka(r.addr, r.clientID, 10*time.Second); err != nil {
				r.conn = nil
				sleepCtx(ctx, 200*time.Millisecond)
				continue
			}
		}
		got, err := fetch(r.conn)
		if err == nil {
			return got, nil
		}
		var ke *kerr.Error
		if !errors.As(err, &ke) {
			r.conn.Close()
			r.conn = nil
		}
		sleepCtx(ctx, 200*time.Millisecond)
	}
}

// Close closes r's connection.
func (r *readBacker) Close() {
	if r.conn != nil {
		r.conn.Close()
	}
}

// readBack fetches every client's offsets through the gateway and classifies each key.
func readBack(ctx context.Context, addr string, clients []*soakClient, partitions int, rep *soakReport) error {
	r := &readBacker{addr: addr, clientID: "soak-readback", what: "read-back", deadline: time.Now().Add(60 * time.Second)}
	defer r.Close()
	for _, c := range clients {
		got, err := r.read(ctx, func(conn *kafkaConn) (map[int32]int64, error) {
			return fetchOffsets(conn, c.group, soakTopic, partitions)
		})
		if err != nil {
			return err
		}
		for p := range partitions {
			k := c.keys[p]
			v, ok := got[int32(p)]
			switch {
			case k.lastAcked >= 0 && ok && v == k.lastAcked:
				rep.AtLastAck++
			case ok && slices.Contains(k.pending, v):
				rep.AtLaterAttempt++
			case k.lastAcked < 0 && !ok:
				rep.NeverAckedEmpty++
			case k.lastAcked >= 0 && ok && v < k.lastAcked && c.tracks[p].wasUnanswered(v):
				rep.Unanswered++
				rep.LostKeys = append(rep.LostKeys, fmt.Sprintf("%s/%d: acked %d, read %d, whose commit got no answer", c.group, p, k.lastAcked, v))
			case k.lastAcked >= 0 && (!ok || v < k.lastAcked):
				rep.Lost++
				if ok {
					rep.Stale++
				}
				rep.LostKeys = append(rep.LostKeys, fmt.Sprintf("%s/%d: acked %d, read %d (present %v)", c.group, p, k.lastAcked, v, ok))
			default:
				rep.Phantom++
				rep.LostKeys = append(rep.LostKeys, fmt.Sprintf("%s/%d: read %d, never sent after ack %d", c.group, p, v, k.lastAcked))
			}
		}
	}
	sort.Strings(rep.LostKeys)
	return nil
}

// fetchOffsets reads a group's committed offsets of topic's partitions 0..n-1 (OffsetFetch
// v5); an absent offset is left out of the map. A group-level or partition-level error code
// is returned as a *kerr.Error.
func fetchOffsets(conn *kafkaConn, group, topic string, n int) (map[int32]int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 5
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = topic
	for p := range n {
		rt.Partitions = append(rt.Partitions, int32(p))
	}
	req.Topics = append(req.Topics, rt)
	resp, err := conn.do(req)
	if err != nil {
		return nil, err
	}
	r := resp.(*kmsg.OffsetFetchResponse)
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, err
			}
			if p.Offset >= 0 {
				out[p.Partition] = p.Offset
			}
		}
	}
	return out, nil
}

// codeName names a Kafka error code.
func codeName(code int16) string {
	if e, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return e.Message
	}
	return fmt.Sprintf("code %d", code)
}

// sleepUntil sleeps until t or ctx is done and reports whether t was reached.
func sleepUntil(ctx context.Context, t time.Time) bool {
	return sleepCtx(ctx, time.Until(t))
}

// sleepCtx sleeps for d or until ctx is done and reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
