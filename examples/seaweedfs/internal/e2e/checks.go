package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// Env is what a check runs against: a running gateway on a cluster, and how to run the other
// build's gateway for the checks that move offsets between the two.
type Env struct {
	Cluster *Cluster
	Gateway *Gateway
	// Name is "stock" or "patched"; it makes group and topic names unique per build.
	Name string
	// Other starts the other build's gateway on the same cluster (the caller stops Gateway
	// first and restarts it after).
	Other func() (*Gateway, error)
}

// Check is one end-to-end check: Run returns nil when the gateway behaves as Kafka does.
type Check struct {
	Name string // short identifier, also the subtest name
	What string // what is checked, for the README table
	Run  func(ctx context.Context, env *Env) error
}

// Checks returns every check, in the order of the README table. The offset checks run with
// franz-go capped at Kafka 2.3.0's versions (no flexible versions) where noted, so that an
// unrelated gateway bug cannot hide an offset result.
func Checks() []Check {
	return []Check{
		{"apiversions-v5", "franz-go at its default versions sends ApiVersions v5 and gets an answer it can use (part 2)", checkAPIVersionsV5},
		{"advertised-port", "Metadata advertises the port the gateway listens on (part 3)", checkAdvertisedPort},
		{"kgo-group-join", "kgo consumer group with franz-go's default client id (\"kgo\") at Kafka 2.4.0 versions (flexible JoinGroup v6, SyncGroup v4) gets its assignment (part 5)", checkGroupJoin},
		{"offset-versions", "ApiVersions advertises OffsetCommit v0-9, OffsetFetch v0-9, OffsetDelete v0", checkOffsetVersions},
		{"kgo-resume", "kgo producer, kgo consumer group consuming and committing; gateway killed (SIGKILL) and restarted; the group resumes exactly after its last commit", checkKgoResume},
		{"kadm-commit", "kadm CommitOffsets, standalone (generation -1, no member)", checkKadmCommit},
		{"commit-v1", "OffsetCommit v1 (member commit with a per-partition timestamp), then read back", checkCommitV1},
		{"kadm-fetch", "kadm FetchOffsetsForTopics and a named OffsetFetch return what was committed", checkKadmFetch},
		{"kadm-fetch-all", "kadm FetchOffsets (null topics: all of the group)", checkKadmFetchAll},
		{"kadm-delete", "kadm DeleteOffsets (OffsetDelete), then the partition reads as not committed", checkKadmDelete},
		{"kadm-unknown-group", "kadm FetchOffsets of a group that never committed: no offsets, no error", checkKadmUnknownGroup},
		{"list-groups", "kadm ListGroups lists a group known only by its committed offsets", checkListGroups},
		{"unknown-member", "a commit naming a member and generation the group does not have is refused (UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION)", checkUnknownMember},
		{"unknown-topic", "a commit to a topic that does not exist gets UNKNOWN_TOPIC_OR_PARTITION", checkUnknownTopic},
		{"sarama", "Sarama (Kafka 2.8.0) offset manager commits, and a new offset manager resumes from it", checkSarama},
		{"kafka-go", "segmentio/kafka-go Client: OffsetCommit, OffsetFetch, OffsetDelete", checkKafkaGo},
		{"cross-read", "offsets a kgo group member commits through the other build's gateway are read by this one, and the reverse", checkCrossRead},
	}
}

// Topic partitions used by the checks.
const partitions = 3

// dialer connects to the gateway whatever address it advertises: the stock gateway advertises
// port 9093 whatever its -port, so its clients could not reach it otherwise.
func dialer(gw *Gateway) func(ctx context.Context, network, host string) (net.Conn, error) {
	return func(ctx context.Context, network, host string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, gw.Addr())
	}
}

// kgoClient returns a franz-go client for the gateway; capped limits it to Kafka 2.3.0's
// request versions (no flexible versions, ApiVersions v2), plus OffsetDelete v0.
func kgoClient(env *Env, capped bool, opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{
		kgo.SeedBrokers(env.Gateway.Addr()),
		kgo.Dialer(dialer(env.Gateway)),
		kgo.RetryTimeout(20 * time.Second),
		kgo.RequestRetries(30),
		kgo.RetryBackoffFn(func(int) time.Duration { return 200 * time.Millisecond }),
		kgo.MetadataMinAge(250 * time.Millisecond),
	}
	if capped {
		// Kafka 2.3.0 has no OffsetDelete (2.4.0 added it); allow its only version.
		v := kversion.V2_3_0()
		v.SetMaxKeyVersion(47, 0)
		base = append(base, kgo.MaxVersions(v))
	}
	return kgo.NewClient(append(base, opts...)...)
}

// topic creates (once per env) the topic name+"-"+env.Name with 3 partitions and returns its
// name. Topic names start with '_': the gateway only creates those without a schema registry.
func topic(ctx context.Context, env *Env, name string) (string, error) {
	t := "_ok_" + name + "_" + env.Name
	cl, err := kgoClient(env, true)
	if err != nil {
		return "", err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopics(ctx, partitions, 1, nil, t)
	if err != nil {
		return "", fmt.Errorf("create topic %s: %w", t, err)
	}
	if r := resp[t]; r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
		return "", fmt.Errorf("create topic %s: %w", t, r.Err)
	}
	// Wait until Metadata lists the topic with its partitions.
	for {
		md, err := adm.Metadata(ctx, t)
		if err == nil && len(md.Topics[t].Partitions) == partitions && md.Topics[t].Err == nil {
			return t, nil
		}
		if err := ctxSleep(ctx, 200*time.Millisecond); err != nil {
			return "", fmt.Errorf("topic %s not in Metadata: %v", t, md.Topics[t].Err)
		}
	}
}

func group(env *Env, name string) string { return "ok-" + name + "-" + env.Name }

func checkAPIVersionsV5(ctx context.Context, env *Env) error {
	cl, err := kgoClient(env, false, kgo.RequestRetries(2))
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("ApiVersions: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("ApiVersions v%d: %w", resp.Version, err)
	}
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err != nil {
		return fmt.Errorf("Metadata after ApiVersions: %w", err)
	}
	return nil
}

func checkAdvertisedPort(ctx context.Context, env *Env) error {
	cl, err := kgoClient(env, true)
	if err != nil {
		return err
	}
	defer cl.Close()
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("Metadata: %w", err)
	}
	want := env.Gateway.port
	for _, b := range md.Brokers {
		if int(b.Port) != want {
			return fmt.Errorf("advertises port %d, not the port it listens on", b.Port)
		}
	}
	if len(md.Brokers) == 0 {
		return errors.New("no brokers in Metadata")
	}
	return nil
}

func checkGroupJoin(ctx context.Context, env *Env) error {
	t, err := topic(ctx, env, "join")
	if err != nil {
		return err
	}
	assigned := make(chan map[string][]int32, 1)
	var last lastWarning
	cl, err := kgoClient(env, false, kgo.WithLogger(&last), kgo.MaxVersions(kversion.V2_4_0()), kgo.ConsumerGroup(group(env, "join")),
		kgo.ConsumeTopics(t), kgo.DisableAutoCommit(), kgo.SessionTimeout(10*time.Second),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			select {
			case assigned <- a:
			default:
			}
		}))
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		cl.PollFetches(pctx)
		cancel()
		select {
		case a := <-assigned:
			if len(a[t]) != partitions {
				return fmt.Errorf("assigned %v, want the %d partitions of %s", a, partitions, t)
			}
			return nil
		default:
		}
		if ctx.Err() != nil {
			return fmt.Errorf("no assignment: %w (last client warning: %s)", ctx.Err(), last.String())
		}
	}
}

// lastWarning is a kgo.Logger that keeps the client's last warning or error.
type lastWarning struct {
	mu  sync.Mutex
	msg string
}

// Level implements kgo.Logger: warnings and errors.
func (l *lastWarning) Level() kgo.LogLevel { return kgo.LogLevelWarn }

// Log implements kgo.Logger, keeping the message and its err and group values.
func (l *lastWarning) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var b strings.Builder
	b.WriteString(msg)
	for i := 0; i+1 < len(keyvals); i += 2 {
		if k := fmt.Sprint(keyvals[i]); k == "err" || k == "group" {
			fmt.Fprintf(&b, " %s=%v", k, keyvals[i+1])
		}
	}
	l.mu.Lock()
	l.msg = b.String()
	l.mu.Unlock()
}

// String returns the last warning, or "none".
func (l *lastWarning) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.msg == "" {
		return "none"
	}
	return l.msg
}

func checkOffsetVersions(ctx context.Context, env *Env) error {
	cl, err := kgoClient(env, true)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	got := map[int16][2]int16{}
	for _, k := range resp.ApiKeys {
		got[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	var problems []string
	for _, w := range []struct {
		key  int16
		name string
		max  int16
	}{{8, "OffsetCommit", 9}, {9, "OffsetFetch", 9}, {47, "OffsetDelete", 0}} {
		r, ok := got[w.key]
		switch {
		case !ok:
			problems = append(problems, w.name+" not advertised")
		case r[0] != 0 || r[1] != w.max:
			problems = append(problems, fmt.Sprintf("%s v%d-%d", w.name, r[0], r[1]))
		}
	}
	if problems != nil {
		return errors.New(strings.Join(problems, ", "))
	}
	return nil
}

// checkKgoResume produces 10 records to each partition, consumes some of them in a group and
// commits exactly what it consumed, kills the gateway, restarts it, and consumes the rest with
// a new member of the group: it must start at the committed offsets and get every record once.
func checkKgoResume(ctx context.Context, env *Env) error {
	t, err := topic(ctx, env, "resume")
	if err != nil {
		return err
	}
	g := group(env, "resume")
	const perPartition = 10
	var last lastWarning
	prod, err := kgoClient(env, false, kgo.WithLogger(&last), kgo.DefaultProduceTopic(t), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.LeaderAck()))
	if err != nil {
		return err
	}
	var recs []*kgo.Record
	for p := range int32(partitions) {
		for i := range perPartition {
			recs = append(recs, &kgo.Record{Partition: p, Value: []byte(fmt.Sprintf("%d-%d", p, i))})
		}
	}
	err = prod.ProduceSync(ctx, recs...).FirstErr()
	prod.Close()
	if err != nil {
		return fmt.Errorf("produce: %w (last client warning: %s)", err, last.String())
	}

	consumer := func() (*kgo.Client, error) {
		return kgoClient(env, false, kgo.ConsumerGroup(g), kgo.ConsumeTopics(t), kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond),
			kgo.SessionTimeout(10*time.Second))
	}
	// First member: consume half of the records (PollRecords hands out no more than asked,
	// whatever the client has buffered), commit exactly those.
	c1, err := consumer()
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	committed := map[int32]int64{} // a partition with no commit resumes at 0 (AtStart)
	var got []*kgo.Record
	for len(got) < perPartition*partitions/2 {
		fs := c1.PollRecords(ctx, perPartition*partitions/2-len(got))
		if ctx.Err() != nil {
			c1.Close()
			return fmt.Errorf("first consumer got %d records: %w (fetch errors: %v)", len(got), ctx.Err(), fs.Errors())
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r) })
	}
	for _, r := range got {
		seen[string(r.Value)] = true
		committed[r.Partition] = max(committed[r.Partition], r.Offset+1)
	}
	if err := c1.CommitRecords(ctx, got...); err != nil {
		c1.Close()
		return fmt.Errorf("commit: %w", err)
	}
	// The crash: the gateway dies with the member still in its group.
	env.Gateway.Kill()
	leaveCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	c1.LeaveGroupContext(leaveCtx)
	cancel()
	c1.Close()
	if err := env.Gateway.Restart(); err != nil {
		return err
	}

	c2, err := consumer()
	if err != nil {
		return err
	}
	defer c2.Close()
	first := map[int32]int64{}
	want := perPartition*partitions - len(got)
	var rest []*kgo.Record
	for len(rest) < want {
		fs := c2.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("after the restart the group got %d of the %d uncommitted records: %w (fetch errors: %v)", len(rest), want, ctx.Err(), fs.Errors())
		}
		fs.EachRecord(func(r *kgo.Record) {
			rest = append(rest, r)
			if _, ok := first[r.Partition]; !ok {
				first[r.Partition] = r.Offset
			}
		})
	}
	if len(rest) != want {
		return fmt.Errorf("after the restart the group got %d records, want the %d uncommitted ones", len(rest), want)
	}
	for p := range int32(partitions) {
		if _, ok := first[p]; !ok {
			if committed[p] != perPartition {
				return fmt.Errorf("partition %d: nothing read after the restart, but only %d of %d records were committed", p, committed[p], perPartition)
			}
			continue // fully consumed before the crash
		}
		if first[p] != committed[p] {
			return fmt.Errorf("partition %d resumed at offset %d, last commit was %d", p, first[p], committed[p])
		}
	}
	for _, r := range rest {
		if seen[string(r.Value)] {
			return fmt.Errorf("record %s (partition %d offset %d) was read again after it was committed", r.Value, r.Partition, r.Offset)
		}
		seen[string(r.Value)] = true
	}
	if len(seen) != perPartition*partitions {
		return fmt.Errorf("%d distinct records consumed, want %d", len(seen), perPartition*partitions)
	}
	return nil
}

// commitStandalone commits offsets base+p (metadata "m<p>") to every partition of t for g,
// as kadm does: generation -1, no member.
func commitStandalone(ctx context.Context, cl *kgo.Client, g, t string, base int64) error {
	adm := kadm.NewClient(cl)
	os := kadm.Offsets{}
	for p := range int32(partitions) {
		os.Add(kadm.Offset{Topic: t, Partition: p, At: base + int64(p), LeaderEpoch: -1, Metadata: fmt.Sprintf("m%d", p)})
	}
	resp, err := adm.CommitOffsets(ctx, g, os)
	if err != nil {
		return fmt.Errorf("CommitOffsets: %w", err)
	}
	if err := resp.Error(); err != nil {
		return fmt.Errorf("CommitOffsets: %w", err)
	}
	if n := len(resp.Sorted()); n != partitions {
		return fmt.Errorf("CommitOffsets answered %d partitions, want %d", n, partitions)
	}
	return nil
}

// wantOffsets checks that got holds base+p for every partition of t.
func wantOffsets(got kadm.OffsetResponses, t string, base int64) error {
	if err := got.Error(); err != nil {
		return err
	}
	for p := range int32(partitions) {
		o, ok := got.Lookup(t, p)
		if !ok {
			return fmt.Errorf("%s[%d] missing", t, p)
		}
		if o.At != base+int64(p) {
			return fmt.Errorf("%s[%d] = %d, want %d", t, p, o.At, base+int64(p))
		}
	}
	return nil
}

func checkKadmCommit(ctx context.Context, env *Env) error {
	t, err := topic(ctx, env, "kadm")
	if err != nil {
		return err
	}
	cl, err := kgoClient(env, true)
	if err != nil {
		return err
	}
	defer cl.Close()
	return commitStandalone(ctx, cl, group(env, "kadm-commit"), t, 100)
}

func checkCommitV1(ctx context.Context, env *Env) error {
	t, err := topic(ctx, env, "kadm")
	if err != nil {
		return err
	}
	g := group(env, "commit-v1")
	v := kversion.V2_3_0()
	v.SetMaxKeyVersion(8, 1)
	cl, err := kgoClient(env, false, kgo.MaxVersions(v))
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation, req.MemberID = g, -1, ""
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = t
	for p := range int32(partitions) {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Timestamp = p, 900+int64(p), time.Now().UnixMilli()
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("OffsetCommit: %w", err)
	}
	if resp.Version != 1 {
		return fmt.Errorf("sent OffsetCommit v%d, want v1", resp.Version)
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return fmt.Errorf("OffsetCommit v1 %s[%d]: %w", rt.Topic, rp.Partition, err)
			}
		}
	}
	got, err := namedFetch(ctx, cl, g, t)
	if err != nil {
		return err
	}
	return wantNamed(got, 900)
}

// committedGroup commits base+p to every partition of a fresh topic as a kgo group member (the
// way both builds accept a commit) and returns the group and topic.
func committedGroup(ctx context.Context, env *Env, name string, base int64) (string, string, error) {
	t, err := topic(ctx, env, "kadm")
	if err != nil {
		return "", "", err
	}
	g := group(env, name)
	return g, t, memberCommit(ctx, env, g, t, base)
}

// committedClient is committedGroup followed by a new client (kgoClient, capped) to check
// the group's offsets with; the caller closes it.
func committedClient(ctx context.Context, env *Env, name string, base int64) (g, t string, cl *kgo.Client, err error) {
	if g, t, err = committedGroup(ctx, env, name, base); err != nil {
		return "", "", nil, err
	}
	if cl, err = kgoClient(env, true); err != nil {
		return "", "", nil, err
	}
	return g, t, cl, nil
}

// memberCommit joins g as a kgo consumer (Kafka 2.3.0 versions), commits base+p to every
// partition of t with CommitOffsetsSync, and leaves.
func memberCommit(ctx context.Context, env *Env, g, t string, base int64) error {
	cl, err := kgoClient(env, true, kgo.ConsumerGroup(g), kgo.ConsumeTopics(t), kgo.DisableAutoCommit(),
		kgo.SessionTimeout(10*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	// Joining happens in the background once polling starts; wait for an assignment.
	for {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		cl.PollFetches(pctx)
		cancel()
		if m, gen := cl.GroupMetadata(); m != "" && gen > 0 {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("join group %s: %w", g, ctx.Err())
		}
	}
	offs := map[string]map[int32]kgo.EpochOffset{t: {}}
	for p := range int32(partitions) {
		offs[t][p] = kgo.EpochOffset{Epoch: -1, Offset: base + int64(p)}
	}
	var commitErr error
	cl.CommitOffsetsSync(ctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			commitErr = err
			return
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil && commitErr == nil {
					commitErr = fmt.Errorf("%s[%d]: %w", rt.Topic, rp.Partition, err)
				}
			}
		}
	})
	if commitErr != nil {
		return fmt.Errorf("member commit: %w", commitErr)
	}
	return nil
}

// namedFetch fetches the partitions of t for g with a raw OffsetFetch naming them (the request a
// consumer sends), at the highest version both sides know.
func namedFetch(ctx context.Context, cl kmsg.Requestor, g, t string) (map[int32]int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = g
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = t
	for p := range int32(partitions) {
		rt.Partitions = append(rt.Partitions, p)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("OffsetFetch v%d: %w", resp.Version, err)
	}
	got := map[int32]int64{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("OffsetFetch v%d %s[%d]: %w", resp.Version, t.Topic, p.Partition, err)
			}
			got[p.Partition] = p.Offset
		}
	}
	return got, nil
}

func wantNamed(got map[int32]int64, base int64) error {
	for p := range int32(partitions) {
		if got[p] != base+int64(p) {
			return fmt.Errorf("partition %d: offset %d, want %d (all: %v)", p, got[p], base+int64(p), got)
		}
	}
	return nil
}

func checkKadmFetch(ctx context.Context, env *Env) error {
	g, t, cl, err := committedClient(ctx, env, "kadm-fetch", 200)
	if err != nil {
		return err
	}
	defer cl.Close()
	got, err := kadm.NewClient(cl).FetchOffsetsForTopics(ctx, g, t)
	if err != nil {
		return fmt.Errorf("FetchOffsetsForTopics: %w", err)
	}
	if err := wantOffsets(got, t, 200); err != nil {
		return fmt.Errorf("FetchOffsetsForTopics: %w", err)
	}
	named, err := namedFetch(ctx, cl, g, t)
	if err != nil {
		return err
	}
	return wantNamed(named, 200)
}

func checkKadmFetchAll(ctx context.Context, env *Env) error {
	g, t, cl, err := committedClient(ctx, env, "kadm-fetch-all", 300)
	if err != nil {
		return err
	}
	defer cl.Close()
	got, err := kadm.NewClient(cl).FetchOffsets(ctx, g)
	if err != nil {
		return fmt.Errorf("FetchOffsets: %w", err)
	}
	if err := wantOffsets(got, t, 300); err != nil {
		return fmt.Errorf("FetchOffsets: %w", err)
	}
	return nil
}

func checkKadmDelete(ctx context.Context, env *Env) error {
	g, t, cl, err := committedClient(ctx, env, "kadm-delete", 400)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	del, err := adm.DeleteOffsets(ctx, g, kadm.TopicsSet{t: {0: {}}})
	if err != nil {
		return fmt.Errorf("DeleteOffsets: %w", err)
	}
	if err := del.Error(); err != nil {
		return fmt.Errorf("DeleteOffsets: %w", err)
	}
	named, err := namedFetch(ctx, cl, g, t)
	if err != nil {
		return err
	}
	if named[0] != -1 || named[1] != 401 || named[2] != 402 {
		return fmt.Errorf("after deleting partition 0: %v, want 0:-1 1:401 2:402", named)
	}
	return nil
}

func checkKadmUnknownGroup(ctx context.Context, env *Env) error {
	cl, err := kgoClient(env, true)
	if err != nil {
		return err
	}
	defer cl.Close()
	got, err := kadm.NewClient(cl).FetchOffsets(ctx, group(env, "never-committed"))
	if err != nil {
		return fmt.Errorf("FetchOffsets: %w", err)
	}
	if err := got.Error(); err != nil {
		return fmt.Errorf("FetchOffsets: %w", err)
	}
	if n := len(got.Sorted()); n != 0 {
		return fmt.Errorf("%d offsets for a group that never committed", n)
	}
	return nil
}

func checkListGroups(ctx context.Context, env *Env) error {
	g, _, cl, err := committedClient(ctx, env, "listed", 500)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// The member left: a new gateway (or the same one) lists the group through its offsets.
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("ListGroups: %w", err)
	}
	if _, ok := listed[g]; ok {
		// Listed by the coordinator (the member's group). Restart to check the offsets alone.
		env.Gateway.Stop()
		if err := env.Gateway.Restart(); err != nil {
			return err
		}
		cl2, err := kgoClient(env, true)
		if err != nil {
			return err
		}
		defer cl2.Close()
		if listed, err = kadm.NewClient(cl2).ListGroups(ctx); err != nil {
			return fmt.Errorf("ListGroups after restart: %w", err)
		}
		if _, ok := listed[g]; !ok {
			return fmt.Errorf("after a restart, group %s (offsets only) is not listed: %v", g, listed.Groups())
		}
		return nil
	}
	return fmt.Errorf("group %s not listed: %v", g, listed.Groups())
}

func checkUnknownMember(ctx context.Context, env *Env) error {
	g, t, cl, err := committedClient(ctx, env, "unknown-member", 600)
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation, req.MemberID = g, 1, "consumer-gone"
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = t
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = 0, 999
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	code := resp.Topics[0].Partitions[0].ErrorCode
	if code != kerr.UnknownMemberID.Code && code != kerr.IllegalGeneration.Code {
		if code == 0 {
			return errors.New("accepted (Kafka: UNKNOWN_MEMBER_ID)")
		}
		return fmt.Errorf("got %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(code))
	}
	named, err := namedFetch(ctx, cl, g, t)
	if err != nil {
		return err
	}
	return wantNamed(named, 600)
}

// checkUnknownTopic sends the OffsetCommit itself: kadm's CommitOffsets answers
// UNKNOWN_TOPIC_OR_PARTITION on its own, without asking the broker, for a topic Metadata lacks.
func checkUnknownTopic(ctx context.Context, env *Env) error {
	cl, err := kgoClient(env, true)
	if err != nil {
		return err
	}
	defer cl.Close()
	// Not a '_' name: the gateway creates those (system topics) whenever Metadata names them.
	const missing = "ok-no-such-topic"
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation, req.MemberID = group(env, "unknown-topic"), -1, ""
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = missing
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = 0, 1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("OffsetCommit: %w", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return fmt.Errorf("OffsetCommit v%d answered %d topics, want 1", resp.Version, len(resp.Topics))
	}
	code := resp.Topics[0].Partitions[0].ErrorCode
	if code != kerr.UnknownTopicOrPartition.Code {
		if code == 0 {
			return errors.New("accepted")
		}
		return fmt.Errorf("got %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(code))
	}
	return nil
}

func checkSarama(ctx context.Context, env *Env) error {
	t, err := topic(ctx, env, "sarama")
	if err != nil {
		return err
	}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "offsetkit-e2e-sarama"
	cfg.Consumer.Return.Errors = true
	cfg.Net.Proxy.Enable = true
	cfg.Net.Proxy.Dialer = saramaDialer{env.Gateway}
	// Sarama retries on its own clock: bound it to about a minute (NewClient takes no context).
	cfg.Metadata.Retry.Max = 3
	cfg.Metadata.Retry.Backoff = 250 * time.Millisecond
	cfg.Consumer.Offsets.Retry.Max = 3
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = 5 * time.Second
	cl, err := sarama.NewClient([]string{env.Gateway.Addr()}, cfg)
	if err != nil {
		return fmt.Errorf("sarama client: %w", err)
	}
	// Sarama takes no context: closing the client when ctx ends makes its calls return.
	stop := context.AfterFunc(ctx, func() { cl.Close() })
	defer func() {
		if stop() {
			cl.Close()
		}
	}()
	g := group(env, "sarama")
	om, err := sarama.NewOffsetManagerFromClient(g, cl)
	if err != nil {
		return err
	}
	pom, err := om.ManagePartition(t, 1)
	if err != nil {
		om.Close()
		return fmt.Errorf("ManagePartition: %w", err)
	}
	pom.MarkOffset(17, "seventeen")
	om.Commit() // one flush; a failure lands in pom.Errors (Consumer.Return.Errors)
	var errs []error
	for len(pom.Errors()) > 0 {
		errs = append(errs, <-pom.Errors())
	}
	// pom.Close waits until its offset is flushed, which never happens if the gateway keeps
	// refusing it; om.Close retries Consumer.Offsets.Retry.Max times and then releases it.
	pom.AsyncClose()
	om.Close()
	if len(errs) > 0 {
		return fmt.Errorf("commit: %v", errors.Join(errs...))
	}
	om2, err := sarama.NewOffsetManagerFromClient(g, cl)
	if err != nil {
		return err
	}
	defer om2.Close()
	p2, err := om2.ManagePartition(t, 1)
	if err != nil {
		return fmt.Errorf("ManagePartition: %w", err)
	}
	defer p2.Close()
	next, meta := p2.NextOffset()
	if next != 17 || meta != "seventeen" {
		return fmt.Errorf("new offset manager resumes at %d %q, want 17 \"seventeen\"", next, meta)
	}
	return nil
}

// saramaDialer is the address-rewriting dialer for Sarama's proxy.Dialer.
type saramaDialer struct{ gw *Gateway }

// Dial connects to the gateway, whatever address Sarama asks for.
func (d saramaDialer) Dial(network, _ string) (net.Conn, error) {
	return net.DialTimeout(network, d.gw.Addr(), 10*time.Second)
}

func checkKafkaGo(ctx context.Context, env *Env) error {
	t, err := topic(ctx, env, "kafkago")
	if err != nil {
		return err
	}
	tr := &kafka.Transport{Dial: dialer(env.Gateway), DialTimeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(env.Gateway.Addr()), Timeout: 15 * time.Second, Transport: tr}
	g := group(env, "kafkago")
	commit, err := cl.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID: g, GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{t: {{Partition: 0, Offset: 5, Metadata: "five"}, {Partition: 1, Offset: 6}}},
	})
	if err != nil {
		return fmt.Errorf("OffsetCommit: %w", err)
	}
	if len(commit.Topics[t]) != 2 {
		return fmt.Errorf("OffsetCommit answered %d of the 2 partitions of %s (response: %v)", len(commit.Topics[t]), t, commit.Topics)
	}
	for _, p := range commit.Topics[t] {
		if p.Error != nil {
			return fmt.Errorf("OffsetCommit %s[%d]: %w", t, p.Partition, p.Error)
		}
	}
	fetched, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: g, Topics: map[string][]int{t: {0, 1, 2}}})
	if err != nil {
		return fmt.Errorf("OffsetFetch: %w", err)
	}
	if fetched.Error != nil {
		return fmt.Errorf("OffsetFetch: %w", fetched.Error)
	}
	got := map[int]int64{}
	for _, p := range fetched.Topics[t] {
		if p.Error != nil {
			return fmt.Errorf("OffsetFetch %s[%d]: %w", t, p.Partition, p.Error)
		}
		got[p.Partition] = p.CommittedOffset
	}
	if got[0] != 5 || got[1] != 6 || got[2] != -1 {
		return fmt.Errorf("OffsetFetch: %v, want 0:5 1:6 2:-1", got)
	}
	del, err := cl.OffsetDelete(ctx, &kafka.OffsetDeleteRequest{GroupID: g, Topics: map[string][]int{t: {0}}})
	if err != nil {
		return fmt.Errorf("OffsetDelete: %w", err)
	}
	if del.Error != nil {
		return fmt.Errorf("OffsetDelete: %w", del.Error)
	}
	for _, p := range del.Topics[t] {
		if p.Error != nil {
			return fmt.Errorf("OffsetDelete %s[%d]: %w", t, p.Partition, p.Error)
		}
	}
	return nil
}

// checkCrossRead commits through the other build's gateway and reads through this one, then
// commits through this one and reads through the other, on the same filer.
func checkCrossRead(ctx context.Context, env *Env) error {
	if env.Other == nil {
		return errors.New("no other gateway build")
	}
	t, err := topic(ctx, env, "cross")
	if err != nil {
		return err
	}
	gOther, gThis := group(env, "written-by-other"), group(env, "written-by-this")
	if err := memberCommit(ctx, env, gThis, t, 700); err != nil {
		return fmt.Errorf("this gateway: %w", err)
	}
	env.Gateway.Stop()
	other, err := env.Other()
	if err != nil {
		return fmt.Errorf("start the other gateway: %w", err)
	}
	otherEnv := *env
	otherEnv.Gateway = other
	werr := memberCommit(ctx, &otherEnv, gOther, t, 800)
	var rerr error
	if werr == nil {
		rerr = readBack(ctx, &otherEnv, gThis, t, 700)
	}
	other.Stop()
	if err := env.Gateway.Restart(); err != nil {
		return err
	}
	if werr != nil {
		return fmt.Errorf("the other gateway could not commit: %w", werr)
	}
	if rerr != nil {
		return fmt.Errorf("the other gateway reads what this one wrote: %w", rerr)
	}
	if err := readBack(ctx, env, gOther, t, 800); err != nil {
		return fmt.Errorf("this gateway reads what the other wrote: %w", err)
	}
	return nil
}

// readBack fetches g's offsets of t from the gateway directly, without FindCoordinator: the
// gateways' coordinator registry keeps a group assigned to the gateway that first looked it up,
// by address, and the two builds advertise different addresses (stock: port 9093), so
// FindCoordinator through the other build names a broker its Metadata does not list.
func readBack(ctx context.Context, env *Env, g, t string, base int64) error {
	cl, err := kgoClient(env, true)
	if err != nil {
		return err
	}
	defer cl.Close()
	got, err := namedFetch(ctx, cl.SeedBrokers()[0], g, t)
	if err != nil {
		return err
	}
	return wantNamed(got, base)
}

// Result is the outcome of one check against one build.
type Result struct {
	Check  Check
	Err    error // nil: passed
	Died   string
	Elapse time.Duration
}

// Run runs every check against env with a per-check timeout. A check that kills the gateway
// process gets that noted in its result, and the gateway is restarted for the next check.
func Run(ctx context.Context, env *Env, timeout time.Duration, only []string, logf func(string, ...any)) []Result {
	var out []Result
	for _, c := range Checks() {
		if len(only) > 0 && !slices.Contains(only, c.Name) {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		start := time.Now()
		err := c.Run(cctx, env)
		cancel()
		r := Result{Check: c, Err: err, Elapse: time.Since(start)}
		if died := env.Gateway.Dead(); died != "" {
			r.Died = died
			if rerr := env.Gateway.Restart(); rerr != nil {
				logf("restart after %s: %v", c.Name, rerr)
			}
		}
		logf("%s %s: %v (%v)", env.Name, c.Name, err, r.Elapse.Round(time.Millisecond))
		out = append(out, r)
	}
	return out
}
