package memstore

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// TestShardSize checks that a shard fills whole cache lines, so that neighbouring shards'
// locks do not share one.
func TestShardSize(t *testing.T) {
	size := unsafe.Sizeof(shard{})
	assert.Zero(t, size%64, "shard is %d bytes; want a multiple of 64", size)
}
