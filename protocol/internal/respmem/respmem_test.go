package respmem_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/offsetkit/offsetkit/protocol/internal/respmem"
)

func TestCarve(t *testing.T) {
	var c respmem.Carve[int]
	c.Reset(3)
	a, b := c.Take(2), c.Take(1)
	a[0], a[1], b[0] = 1, 2, 3
	assert.Equal(t, []int{1, 2}, a)
	assert.Len(t, a[:cap(a)], 2, "a slice ends where the next begins")
	more := c.Take(4) // beyond Reset's room: a new buffer, the earlier slices stay valid
	more[0] = 9
	assert.Equal(t, []int{1, 2}, a)
	assert.Equal(t, []int{3}, b)
	assert.Equal(t, []int{}, c.Take(0))
	assert.True(t, c.Release(8))
	assert.False(t, c.Release(1))
	c.Reset(2)
	assert.Equal(t, []int{0, 0}, c.Take(2), "Reset hands out zeroed elements")
}

func TestPool(t *testing.T) {
	var p respmem.Pool[[]byte]
	v := p.Get()
	assert.NotNil(t, v)
	*v = append(*v, 'x')
	p.Put(v)
	assert.NotNil(t, p.Get())
}
