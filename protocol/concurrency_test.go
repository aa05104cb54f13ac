package protocol_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/offsetkit/offsetkit/protocol"
	"github.com/stretchr/testify/assert"
)

// TestConcurrentUse runs commits and fetches of overlapping groups from many goroutines through
// one Handler (run with -race): every commit succeeds and every fetch sees a value some writer
// committed, or nothing.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	h := protocol.New(newStore(t), protocol.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			group := fmt.Sprintf("g%d", w%4)
			for i := range 200 {
				var parts []part
				for p := range int32(w%8 + 1) {
					parts = append(parts, part{p, int64(i), -1, strp("w")})
				}
				resp, err := h.OffsetCommit(ctx, commitReq(9, group, -1, "", "t", parts))
				if err != nil {
					errs <- err
					return
				}
				for _, c := range commitCodes(resp) {
					if c[len(c)-2:] != "=0" {
						errs <- fmt.Errorf("commit: %s", c)
						return
					}
				}
				fr, err := h.OffsetFetch(ctx, fetchReq(9, group, "t", []int32{0, 7}))
				if err != nil {
					errs <- err
					return
				}
				for _, p := range fr.Groups[0].Topics[0].Partitions {
					if p.ErrorCode != 0 || p.Offset < -1 || p.Offset >= 200 || p.Metadata == nil {
						errs <- fmt.Errorf("fetch: %+v", p)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}
