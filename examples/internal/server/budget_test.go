package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestByteBudget(t *testing.T) {
	tests := []struct {
		name   string
		budget int64
		frame  int
		units  int
	}{
		{"small frames are free", 1 << 20, budgetUnit, 0},
		{"one unit over", 1 << 20, budgetUnit + 1, 2},
		{"a frame larger than the budget takes all of it", 4 * budgetUnit, 1 << 20, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newByteBudget(tt.budget)
			k, err := b.acquire(context.Background(), tt.frame)
			if err != nil || k != tt.units {
				t.Fatalf("acquire = %d, %v; want %d units", k, err, tt.units)
			}
			b.release(k)
			if len(b.tokens) != 0 {
				t.Fatalf("%d units still held after release", len(b.tokens))
			}
		})
	}
	var nilBudget *byteBudget
	if k, err := nilBudget.acquire(context.Background(), 1<<30); k != 0 || err != nil {
		t.Fatalf("nil budget: %d, %v", k, err)
	}
}

// TestByteBudgetBoundsAndCancels shows that frames beyond the budget wait for others to
// finish, that many connections contending never deadlock, and that a wait is cancellable.
func TestByteBudgetBoundsAndCancels(t *testing.T) {
	const budget = 8 * budgetUnit
	b := newByteBudget(budget)
	var inUse, peak atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			n := (1 + i%5) * budgetUnit * 3 / 2
			k, err := b.acquire(context.Background(), n)
			if err != nil {
				t.Error(err)
				return
			}
			cur := inUse.Add(int64(k))
			for {
				p := peak.Load()
				if cur <= p || peak.CompareAndSwap(p, cur) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			inUse.Add(-int64(k))
			b.release(k)
		}(i)
	}
	wg.Wait()
	if p := peak.Load() * budgetUnit; p > budget {
		t.Fatalf("peak in flight %d bytes, over the %d budget", p, budget)
	}
	hold, err := b.acquire(context.Background(), budget)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.acquire(ctx, 2*budgetUnit); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire on an exhausted budget = %v; want it to wait until its context ends", err)
	}
	b.release(hold)
	if k, err := b.acquire(context.Background(), 2*budgetUnit); err != nil || k != 2 {
		t.Fatalf("acquire after release = %d, %v", k, err)
	}
}
