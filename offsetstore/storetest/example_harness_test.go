package storetest_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/offsetstore/storetest"
)

// backendHarness gives one rule of the suite a namespace of its own. A networked backend
// (Redis, Postgres) keeps its client here and a fresh key prefix or schema; this skeleton
// runs memstore, whose namespace is the store itself.
type backendHarness struct {
	prefix string // unique per harness, so that rules never see each other's data
}

// Open returns a store over the namespace; the suite closes it before it opens another.
func (h *backendHarness) Open(ctx context.Context) (offsetstore.Store, error) {
	return memstore.New(memstore.Options{}), nil // a real backend: mystore.Open(ctx, client, h.prefix)
}

// Durable reports whether a store opened again sees what the previous one acknowledged: true
// for a real backend, and the suite then checks it across Close and Open.
func (h *backendHarness) Durable() bool { return false }

// Close drops the namespace (DEL prefix*, DROP SCHEMA). ListGroups must list only the
// store's own namespace, or the rules fail on a shared server.
func (h *backendHarness) Close() {}

// testBackend is a backend's conformance test: one harness per rule, each with a new prefix.
func testBackend(t *testing.T) {
	var seq atomic.Int64
	storetest.Run(t, func(ctx context.Context, t *testing.T) (storetest.Harness, error) {
		return &backendHarness{prefix: fmt.Sprintf("storetest-%d/", seq.Add(1))}, nil
	})
}

// The skeleton of a new backend's conformance test: a Harness type and a test that runs
// storetest.Run with a HarnessMaker. Outside a test, TestHarness runs the same rules and
// returns what they found.
func Example_backend() {
	var seq atomic.Int64
	err := storetest.TestHarness(context.Background(), func(ctx context.Context) (storetest.Harness, error) {
		return &backendHarness{prefix: fmt.Sprintf("storetest-%d/", seq.Add(1))}, nil
	})
	fmt.Println("violations:", err)
	// Output: violations: <nil>
}
