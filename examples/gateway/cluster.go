package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/offsetkit/offsetkit/offsetstore"
	"github.com/offsetkit/offsetkit/ownership"
)

// joinCluster makes this gateway a member of the cluster of gateways on the same filer root
// (package ownership): it registers under -node-id (or an allocated id) and -advertise-addr
// (or the address it listens on),
// takes its share of the groups, and returns the Store that serves them. A store without the
// capabilities a cluster needs (memstore, a filer older than ObjectTransaction) leaves the
// gateway alone, serving every group itself: node nil.
//
// onChange receives the node's shard changes (the gateway's server, once it exists).
func joinCluster(ctx context.Context, cfg config, store offsetstore.Store, listening string, onChange func(ownership.Change), log *slog.Logger) (offsetstore.Store, *ownership.Node, error) {
	if cfg.store != "filer" {
		return store, nil, nil
	}
	addr := cfg.advertiseAddr
	if addr == "" {
		addr = listening
	}
	node, err := ownership.Start(ctx, store, ownership.Options{
		NodeID:   int32(cfg.nodeID),
		Addr:     addr,
		Lease:    cfg.lease,
		Logger:   log,
		OnChange: onChange,
		Gone:     refuses,
	})
	if errors.Is(err, errors.ErrUnsupported) {
		log.Warn("the store cannot hold a cluster; this gateway coordinates every group alone", "reason", err)
		return store, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	log.Info("joined the gateway cluster", "node", node.ID(), "advertised", addr, "shards", len(node.OwnedShards()), "members", len(node.Members()))
	return node.Store(), node, nil
}

// refuses reports whether a member's address refuses connections: nothing listens there, so
// the member no longer serves (it crashed, or it was restarted elsewhere), and the others may
// take its groups without waiting out its lease (ownership.Options.Gone).
func refuses(ctx context.Context, m ownership.Member) bool {
	d := net.Dialer{Timeout: 500 * time.Millisecond}
	c, err := d.DialContext(ctx, "tcp", m.Addr)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}
