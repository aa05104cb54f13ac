package main

import (
	"context"
	"fmt"

	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
)

// openStore opens the offset store the flags name.
func openStore(ctx context.Context, cfg config) (offsetstore.Store, error) {
	switch cfg.store {
	case "mem":
		return memstore.New(memstore.Options{}), nil
	}
	return nil, fmt.Errorf("unknown -store %q (want mem or filer)", cfg.store)
}
