package storetest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/offsetstore/storetest"
)

// A store that needs no harness runs the whole suite with TestStore, which returns every
// violation it finds. In a test, Run reports each rule as a subtest instead.
func ExampleTestStore() {
	open := func(context.Context) (offsetstore.Store, error) {
		return memstore.New(memstore.Options{}), nil
	}
	err := storetest.TestStore(context.Background(), open)
	fmt.Println("violations:", err)
	// Output: violations: <nil>
}

// Each violation names the rule it breaks and states it.
func ExampleViolation() {
	open := func(context.Context) (offsetstore.Store, error) {
		return forgetful{memstore.New(memstore.Options{})}, nil
	}
	err := storetest.TestStore(context.Background(), open, "Closed")
	var v *storetest.Violation
	if errors.As(err, &v) {
		fmt.Println(v.Rule)
		fmt.Println(v.Detail)
	}
	// Output:
	// Closed
	// Commit(group "g") after Close = <nil>; want an error matching ErrClosed
}

// forgetful is a store whose Close does nothing.
type forgetful struct{ offsetstore.Store }

func (forgetful) Close() error { return nil }

func ExampleRules() {
	for _, r := range storetest.Rules()[:3] {
		fmt.Println(r.Name)
	}
	// Output:
	// Absent
	// RoundTrip
	// LastWriterWins
}
