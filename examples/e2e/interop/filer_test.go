package interop

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/filerstore/weedtest"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/offsetkit/offsetkit/examples/internal/server"
)

// TestFilerInProcess runs the kadm and kgo flows against an in-process gateway whose offsets
// live in a real SeaweedFS filer.
func TestFilerInProcess(t *testing.T) {
	f := weedtest.Start(t)
	ctx := testContext(t)
	store, err := filerstore.Dial(ctx, f.Addr(), filerstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, store.Close()) })
	t.Run("kadm", func(t *testing.T) { kadmOffsetsFlow(t, startGateway(t, store, "t1:3,t2:2")) })
	t.Run("kgo group", func(t *testing.T) { kgoGroupFlow(t, startGateway(t, store, "t1:3")) })
}

// committed is what the clients were told was committed: group -> topic -> partition -> offset.
type committed map[string]map[string]map[int32]int64

func (c committed) add(group, topic string, partition int32, offset int64) {
	if c[group] == nil {
		c[group] = map[string]map[int32]int64{}
	}
	if c[group][topic] == nil {
		c[group][topic] = map[int32]int64{}
	}
	c[group][topic][partition] = offset
}

// TestFilerGatewayRestart commits through every client library against the gateway binary
// over a real filer, stops the gateway (SIGTERM), starts a new one on the same filer, and reads
// every acknowledged offset back; then kills the gateway (SIGKILL) and does it again.
func TestFilerGatewayRestart(t *testing.T) {
	f := weedtest.Start(t)
	flags := []string{"-store", "filer", "-filer", f.Addr(), "-topics", "t1:3,t2:2"}
	ctx := testContext(t)
	want := committed{}

	p := startProcess(t, flags...)

	// kadm: several groups, both topics, leader epochs and metadata.
	adm := newKadm(t, p.addr)
	for i := range 4 {
		group := fmt.Sprintf("kadm-%d", i)
		offs := make(kadm.Offsets)
		for _, tp := range []struct {
			topic string
			n     int32
		}{{"t1", 3}, {"t2", 2}} {
			for part := range tp.n {
				at := int64(i*1000) + int64(part)*10 + 1
				offs.Add(kadm.Offset{Topic: tp.topic, Partition: part, At: at, LeaderEpoch: 2, Metadata: group})
				want.add(group, tp.topic, part, at)
			}
		}
		resp, err := adm.CommitOffsets(ctx, group, offs)
		require.NoError(t, err)
		require.NoError(t, resp.Error())
	}

	// Sarama's OffsetManager.
	scl := newSarama(t, p.addr)
	om, err := sarama.NewOffsetManagerFromClient("sarama-filer", scl)
	require.NoError(t, err)
	pom, err := om.ManagePartition("t1", 1)
	require.NoError(t, err)
	pom.MarkOffset(555, "sarama")
	om.Commit()
	require.NoError(t, pom.Close())
	require.NoError(t, om.Close())
	want.add("sarama-filer", "t1", 1, 555)

	// kafka-go's Client.
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	kg := &kafka.Client{Addr: kafka.TCP(p.addr), Timeout: 10 * time.Second, Transport: tr}
	kresp, err := kg.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID: "kafka-go-filer", GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{"t2": {{Partition: 0, Offset: 77}, {Partition: 1, Offset: 78}}},
	})
	require.NoError(t, err)
	for _, part := range kresp.Topics["t2"] {
		require.NoError(t, part.Error)
	}
	want.add("kafka-go-filer", "t2", 0, 77)
	want.add("kafka-go-filer", "t2", 1, 78)

	// A kgo group member commits with its generation, then leaves.
	m := joinGroup(t, p.addr, "kgo-filer")
	m.waitAssigned(t, 3)
	m.commit(t, ctx, map[int32]int64{0: 900, 1: 901, 2: 902})
	m.cl.Close()
	for part := range int32(3) {
		want.add("kgo-filer", "t1", part, 900+int64(part))
	}

	verify := func(t *testing.T, addr string) {
		t.Helper()
		adm := newKadm(t, addr)
		groups := make([]string, 0, len(want))
		for g := range want {
			groups = append(groups, g)
		}
		fetched := adm.FetchManyOffsets(ctx, groups...)
		require.NoError(t, fetched.Error())
		got := committed{}
		for g, r := range fetched {
			r.Fetched.Each(func(o kadm.OffsetResponse) {
				require.NoError(t, o.Err)
				got.add(g, o.Topic, o.Partition, o.At)
			})
		}
		require.Equal(t, want, got, "every acknowledged offset is read back")
		o, _ := fetched["kadm-2"].Fetched.Lookup("t2", 1)
		require.Equal(t, int32(2), o.LeaderEpoch)
		require.Equal(t, "kadm-2", o.Metadata)

		// Sarama resumes where it committed.
		scl := newSarama(t, addr)
		om, err := sarama.NewOffsetManagerFromClient("sarama-filer", scl)
		require.NoError(t, err)
		pom, err := om.ManagePartition("t1", 1)
		require.NoError(t, err)
		next, meta := pom.NextOffset()
		require.Equal(t, int64(555), next)
		require.Equal(t, "sarama", meta)
		require.NoError(t, pom.Close())
		require.NoError(t, om.Close())

		// kafka-go reads its offsets back.
		kg := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second, Transport: tr}
		kf, err := kg.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: "kafka-go-filer", Topics: map[string][]int{"t2": {0, 1}}})
		require.NoError(t, err)
		require.Len(t, kf.Topics["t2"], 2)
		for _, part := range kf.Topics["t2"] {
			require.Equal(t, int64(77+part.Partition), part.CommittedOffset)
		}

		// A new group member resumes from the committed offsets.
		m := joinGroup(t, addr, "kgo-filer")
		m.waitAssigned(t, 3)
		require.Eventually(t, func() bool {
			c := m.cl.CommittedOffsets()["t1"]
			return len(c) == 3 && c[0].Offset == 900 && c[1].Offset == 901 && c[2].Offset == 902
		}, 20*time.Second, 10*time.Millisecond)
		m.cl.Close()
	}

	p.stop(t, syscall.SIGTERM)
	p2 := startProcess(t, flags...)
	t.Run("after clean restart", func(t *testing.T) { verify(t, p2.addr) })

	require.NoError(t, p2.cmd.Process.Kill())
	<-p2.done
	p3 := startProcess(t, flags...)
	t.Run("after kill -9", func(t *testing.T) { verify(t, p3.addr) })
	p3.stop(t, os.Interrupt)
}

// TestFilerHungCommitsTimeOut freezes the filer (SIGSTOP) under a gateway with a short
// -offsets-timeout: a commit is answered with the retriable COORDINATOR_NOT_AVAILABLE within
// about that time, never NONE and never a hang, and commits succeed again once the filer
// resumes.
func TestFilerHungCommitsTimeOut(t *testing.T) {
	f := weedtest.Start(t)
	ctx := testContext(t)
	store, err := filerstore.Dial(ctx, f.Addr(), filerstore.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, store.Close()) })
	gw := startGatewayOpts(t, server.Options{Store: store, OffsetsTimeout: 300 * time.Millisecond}, "t1:3")

	commit := func(offset int64) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group = 9, "hung"
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "t1"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 0, offset
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := dialRaw(t, gw.addr).do(req).(*kmsg.OffsetCommitResponse)
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	require.Equal(t, int16(0), commit(1), "commit before the filer hangs")
	require.NoError(t, f.Pause())
	start := time.Now()
	code := commit(2)
	took := time.Since(start)
	require.NoError(t, f.Resume())
	require.Equal(t, kerr.CoordinatorNotAvailable.Code, code, "commit while the filer hangs")
	require.Less(t, took, 10*time.Second, "the commit waited on the hung filer")
	require.Eventually(t, func() bool { return commit(3) == 0 }, 30*time.Second, 200*time.Millisecond, "commits never recovered after the filer resumed")
}
