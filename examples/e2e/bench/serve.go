package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"

	"github.com/offsetkit/offsetkit/examples/internal/server"
	"github.com/offsetkit/offsetkit/memstore"
	"github.com/twmb/franz-go/pkg/kfake"
)

// serveChild is the child process of one target: it listens on a free loopback port, prints
// the address on stdout, and serves until its stdin is closed. Running every server in its
// own process is what lets the parent read each one's CPU time from /proc.
func serveChild(target string, topics string, cpuProfile, blockProfile string) error {
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if blockProfile != "" {
		runtime.SetBlockProfileRate(1)
		defer func() {
			f, err := os.Create(blockProfile)
			if err == nil {
				_ = pprof.Lookup("block").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	ts, err := server.ParseTopics(topics)
	if err != nil {
		return err
	}
	var addr string
	var stop func()
	switch target {
	case "gateway", "echo":
		store := memstore.New(memstore.Options{})
		srv, err := server.New(server.Options{Store: store, Topics: ts})
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		addr = ln.Addr().String()
		done := make(chan struct{})
		if target == "gateway" {
			go func() { defer close(done); _ = srv.Serve(ln) }()
		} else {
			e := &echo{srv: srv, ln: ln, conns: make(map[net.Conn]struct{})}
			go func() { defer close(done); e.serve() }()
			stop = func() { e.close(); <-done; srv.Close(); store.Close() }
			break
		}
		stop = func() { srv.Close(); <-done; store.Close() }
	case "kfake":
		opts := []kfake.Opt{
			kfake.NumBrokers(1),
			kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }),
		}
		for _, t := range ts {
			opts = append(opts, kfake.SeedTopics(t.Partitions, t.Name))
		}
		c, err := kfake.NewCluster(opts...)
		if err != nil {
			return err
		}
		addr = c.ListenAddrs()[0]
		stop = c.Close
	default:
		return fmt.Errorf("unknown target %q", target)
	}
	fmt.Println(addr)
	_, _ = io.Copy(io.Discard, os.Stdin) // the parent closes stdin to stop us
	stop()
	return nil
}

// echo is the physical floor of a request-response loop on the same load: per connection,
// one goroutine that reads each request frame and writes one response frame, one write per
// request, with no decoding. Its answers are replayed: the first request of each shape is
// answered by the real gateway (setup requests, and one of each offset request), and later
// requests of the same shape get those response bytes with their correlation id patched in.
// A request's shape is its bytes but the correlation id (the load commits few distinct
// offsets, so its shapes are few).
type echo struct {
	srv  *server.Server
	ln   net.Listener
	seed maphash.Seed

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
	cache  sync.Map // uint64 -> []byte, a whole response frame
}

func (e *echo) serve() {
	e.seed = maphash.MakeSeed()
	for {
		c, err := e.ln.Accept()
		if err != nil {
			e.wg.Wait()
			return
		}
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			c.Close()
			continue
		}
		e.conns[c] = struct{}{}
		e.wg.Add(1)
		e.mu.Unlock()
		go e.conn(c)
	}
}

func (e *echo) close() {
	e.mu.Lock()
	e.closed = true
	for c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	e.ln.Close()
}

func (e *echo) conn(c net.Conn) {
	defer e.wg.Done()
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	var (
		size  [4]byte
		frame []byte
		out   []byte
	)
	for {
		if _, err := io.ReadFull(r, size[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(size[:]))
		if n < 8 || n > 16<<20 {
			return
		}
		if cap(frame) < n {
			frame = make([]byte, n)
		}
		frame = frame[:n]
		if _, err := io.ReadFull(r, frame); err != nil {
			return
		}
		var h maphash.Hash
		h.SetSeed(e.seed)
		h.Write(frame[:4])
		h.Write(frame[8:])
		k := h.Sum64()
		var resp []byte
		if v, ok := e.cache.Load(k); ok {
			resp = v.([]byte)
		} else {
			var err error
			resp, err = e.srv.AnswerFrame(context.Background(), c.LocalAddr(), c.RemoteAddr(), frame, nil)
			if err != nil {
				return
			}
			e.cache.Store(k, resp)
		}
		out = append(out[:0], resp...)
		copy(out[4:8], frame[4:8]) // the correlation id
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}
