package protocol

import (
	"reflect"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCountErrorsPathsAgree checks that the direct walk of the offset responses counts what
// the reflective walk counts, so the two paths of CountErrors cannot drift apart.
func TestCountErrorsPathsAgree(t *testing.T) {
	code := int16(0)
	next := func() int16 { code = (code + 1) % 4; return code * 10 } // 0, 10, 20, 30, 0, ...

	commit := kmsg.NewPtrOffsetCommitResponse()
	fetch := kmsg.NewPtrOffsetFetchResponse()
	del := kmsg.NewPtrOffsetDeleteResponse()
	fetch.ErrorCode, del.ErrorCode = next(), next()
	for range 3 {
		ct := kmsg.NewOffsetCommitResponseTopic()
		ft := kmsg.NewOffsetFetchResponseTopic()
		dt := kmsg.NewOffsetDeleteResponseTopic()
		g := kmsg.NewOffsetFetchResponseGroup()
		g.ErrorCode = next()
		gt := kmsg.NewOffsetFetchResponseGroupTopic()
		for range 5 {
			cp := kmsg.NewOffsetCommitResponseTopicPartition()
			cp.ErrorCode = next()
			ct.Partitions = append(ct.Partitions, cp)
			fp := kmsg.NewOffsetFetchResponseTopicPartition()
			fp.ErrorCode = next()
			ft.Partitions = append(ft.Partitions, fp)
			dp := kmsg.NewOffsetDeleteResponseTopicPartition()
			dp.ErrorCode = next()
			dt.Partitions = append(dt.Partitions, dp)
			gp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
			gp.ErrorCode = next()
			gt.Partitions = append(gt.Partitions, gp)
		}
		commit.Topics = append(commit.Topics, ct)
		fetch.Topics = append(fetch.Topics, ft)
		del.Topics = append(del.Topics, dt)
		g.Topics = append(g.Topics, gt)
		fetch.Groups = append(fetch.Groups, g)
	}
	for _, resp := range []kmsg.Response{commit, fetch, del} {
		direct := CountErrors(nil, resp)
		var ec errorCounter
		ec.walk(reflect.ValueOf(resp))
		reflected := slices.Clone([]ErrorCount(ec))
		slices.SortFunc(reflected, func(a, b ErrorCount) int { return int(a.Code) - int(b.Code) })
		assert.NotEmpty(t, direct)
		assert.Equal(t, reflected, direct, "%T", resp)
	}
}
