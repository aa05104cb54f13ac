package memstore

import (
	"testing"
	"unsafe"
)

// TestShardSize checks that a shard fills whole cache lines, so that neighbouring shards'
// locks do not share one.
func TestShardSize(t *testing.T) {
	if size := unsafe.Sizeof(shard{}); size%64 != 0 {
		t.Fatalf("shard is %d bytes; want a multiple of 64", size)
	}
}
