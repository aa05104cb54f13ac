package interop

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
)

func newSarama(t *testing.T, addr string) sarama.Client {
	return newSaramaVersion(t, addr, sarama.V2_8_0_0)
}

// newSaramaVersion returns a Sarama client speaking the given Kafka version: 2.8.0 (the
// default) sends OffsetCommit v8 and OffsetFetch v7, 4.0.0 sends OffsetFetch v8 (groups form).
func newSaramaVersion(t *testing.T, addr string, version sarama.KafkaVersion) sarama.Client {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = version
	cfg.ClientID = "sarama-interop"
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	cl, err := sarama.NewClient([]string{addr}, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { cl.Close() })
	return cl
}

// TestSaramaOffsetManager commits through Sarama's OffsetManager (FindCoordinator v3,
// OffsetFetch v7 per partition, OffsetCommit v8 with generation -1) and resumes from the
// committed offset with a new manager.
func TestSaramaOffsetManager(t *testing.T) {
	for _, v := range []sarama.KafkaVersion{sarama.V2_8_0_0, sarama.V4_0_0_0} {
		t.Run(v.String(), func(t *testing.T) {
			gw := startGateway(t, nil, "t1:3")
			saramaOffsetManagerFlow(t, newSaramaVersion(t, gw.addr, v))
		})
	}
}

func saramaOffsetManagerFlow(t *testing.T, cl sarama.Client) {

	om, err := sarama.NewOffsetManagerFromClient("sarama-group", cl)
	require.NoError(t, err)
	pom0, err := om.ManagePartition("t1", 0)
	require.NoError(t, err, "a group that never committed must fetch without error")
	pom2, err := om.ManagePartition("t1", 2)
	require.NoError(t, err)
	next, meta := pom0.NextOffset()
	require.Equal(t, sarama.OffsetNewest, next, "nothing committed yet")
	require.Equal(t, "", meta)

	pom0.MarkOffset(17, "seventeen")
	pom2.MarkOffset(3, "")
	om.Commit()
	require.NoError(t, pom0.Close())
	require.NoError(t, pom2.Close())
	require.NoError(t, om.Close())

	om2, err := sarama.NewOffsetManagerFromClient("sarama-group", cl)
	require.NoError(t, err)
	defer om2.Close()
	p0, err := om2.ManagePartition("t1", 0)
	require.NoError(t, err)
	defer p0.Close()
	next, meta = p0.NextOffset()
	require.Equal(t, int64(17), next)
	require.Equal(t, "seventeen", meta)
	p2, err := om2.ManagePartition("t1", 2)
	require.NoError(t, err)
	defer p2.Close()
	next, _ = p2.NextOffset()
	require.Equal(t, int64(3), next)
}

// TestSaramaClusterAdmin lists offsets (OffsetFetch v7, named and all) and deletes one
// (OffsetDelete v0) through Sarama's ClusterAdmin.
func TestSaramaClusterAdmin(t *testing.T) {
	gw := startGateway(t, nil, "t1:3")
	cl := newSarama(t, gw.addr)
	om, err := sarama.NewOffsetManagerFromClient("admin-group", cl)
	require.NoError(t, err)
	for p, o := range map[int32]int64{0: 100, 1: 101} {
		pom, err := om.ManagePartition("t1", p)
		require.NoError(t, err)
		pom.MarkOffset(o, "")
		defer pom.Close()
	}
	om.Commit()
	require.NoError(t, om.Close())

	admin, err := sarama.NewClusterAdminFromClient(cl)
	require.NoError(t, err)
	listed, err := admin.ListConsumerGroupOffsets("admin-group", map[string][]int32{"t1": {0, 1, 2}})
	require.NoError(t, err)
	require.Equal(t, int64(100), listed.GetBlock("t1", 0).Offset)
	require.Equal(t, int64(101), listed.GetBlock("t1", 1).Offset)
	require.Equal(t, int64(-1), listed.GetBlock("t1", 2).Offset)
	all, err := admin.ListConsumerGroupOffsets("admin-group", nil)
	require.NoError(t, err)
	require.Len(t, all.Blocks["t1"], 2)

	require.NoError(t, admin.DeleteConsumerGroupOffset("admin-group", "t1", 0))
	listed, err = admin.ListConsumerGroupOffsets("admin-group", map[string][]int32{"t1": {0, 1}})
	require.NoError(t, err)
	require.Equal(t, int64(-1), listed.GetBlock("t1", 0).Offset)
	require.Equal(t, int64(101), listed.GetBlock("t1", 1).Offset)

	groups, err := admin.ListConsumerGroups()
	require.NoError(t, err)
	require.Contains(t, groups, "admin-group")
	require.Error(t, admin.DeleteConsumerGroupOffset("no-such-group", "t1", 0))
}
