// Package respmem recycles the working memory of package protocol: the response structures
// HandleBody encodes and drops, and the scratch slices of a request's store call. Nothing in
// it knows Kafka; protocol's mem.go says what is recycled and when.
package respmem

import "sync"

// Carve hands out consecutive, zeroed sub-slices of one buffer, so that a response's topics
// (or partitions) of every group share one allocation.
type Carve[T any] struct {
	buf  []T
	used int
}

// Reset makes room for n elements in total, reusing the buffer when it is large enough.
func (c *Carve[T]) Reset(n int) {
	if cap(c.buf) < n {
		c.buf = make([]T, n)
	} else {
		c.buf = c.buf[:n]
		clear(c.buf)
	}
	c.used = 0
}

// Take returns the next n elements with capacity n. When Reset did not make room for them it
// starts a new buffer; slices handed out before stay valid.
func (c *Carve[T]) Take(n int) []T {
	if n == 0 {
		return []T{}
	}
	if c.used+n > len(c.buf) {
		c.buf = make([]T, max(n, 2*len(c.buf)))
		c.used = 0
	}
	s := c.buf[c.used : c.used+n : c.used+n]
	c.used += n
	return s
}

// Release drops every reference the buffer holds and reports whether its capacity is at most
// limit, small enough to keep.
func (c *Carve[T]) Release(limit int) bool {
	clear(c.buf)
	c.used = 0
	return cap(c.buf) <= limit
}

// Pool is a typed sync.Pool of *T. Its zero value is ready to use.
type Pool[T any] struct {
	p sync.Pool
}

// Get returns a recycled *T, or a new zero one.
func (p *Pool[T]) Get() *T {
	if v, ok := p.p.Get().(*T); ok {
		return v
	}
	return new(T)
}

// Put recycles v, which the caller no longer uses.
func (p *Pool[T]) Put(v *T) { p.p.Put(v) }
