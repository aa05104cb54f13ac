package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/offsetkit/offsetkit/filerstore"
	"github.com/offsetkit/offsetkit/memstore"
	"github.com/offsetkit/offsetkit/offsetstore"
)

// openStore opens the offset store the flags name: memstore, or a filerstore dialled at
// -filer (waiting at most 30 s for the filer to answer).
func openStore(ctx context.Context, cfg config, log *slog.Logger) (offsetstore.Store, error) {
	switch cfg.store {
	case "mem":
		return memstore.New(memstore.Options{}), nil
	case "filer":
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return filerstore.Dial(ctx, cfg.filer, filerstore.Options{Root: cfg.filerRoot, Logger: log})
	}
	return nil, fmt.Errorf("unknown -store %q (want mem or filer)", cfg.store)
}
