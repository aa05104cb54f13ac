package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/offsetkit/offsetkit/protocol"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// gatewayPkg is the example gateway's import path; `go build` resolves it from anywhere inside
// the examples module, so the command (run with -C examples) and the tests (run in
// examples/e2e/reliability) build the same binary.
const gatewayPkg = "github.com/offsetkit/offsetkit/examples/gateway"

// buildGateway builds the gateway binary into dir and returns its path; with race, the
// binary has the race detector, and exits with status 66 at the end if it saw a race.
func buildGateway(ctx context.Context, dir string, race bool) (string, error) {
	bin := filepath.Join(dir, "gateway")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, gatewayPkg)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", gatewayPkg, err, out)
	}
	return bin, nil
}

// gatewayProc is the gateway binary running as a child process, on a free loopback port.
type gatewayProc struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{} // closed when the process has exited
	err  error         // the exit status, valid after done

	mu    sync.Mutex
	log   tailBuffer
	lines int
}

var listeningRE = regexp.MustCompile(`msg="gateway listening" addr=(\S+)`)

// startGateway runs bin with -addr 127.0.0.1:0 and the extra flags and waits until it listens.
// The caller must call stop.
func startGateway(ctx context.Context, bin string, flags ...string) (*gatewayProc, error) {
	p := &gatewayProc{done: make(chan struct{}), log: tailBuffer{max: 64 << 10}}
	p.cmd = exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, flags...)...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.lines++
			p.mu.Unlock()
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	select {
	case p.addr = <-addr:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("gateway exited before listening: %v\n%s", p.err, p.logs())
	case <-time.After(60 * time.Second):
	case <-ctx.Done():
	}
	p.kill()
	return nil, fmt.Errorf("gateway did not start listening\n%s", p.logs())
}

// logs returns the tail of the gateway's log.
func (p *gatewayProc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// logLines returns how many log lines the gateway has written.
func (p *gatewayProc) logLines() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lines
}

// running reports whether the process is still alive.
func (p *gatewayProc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill stops the process with SIGKILL and waits for it.
func (p *gatewayProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop asks the gateway to shut down (SIGTERM) and returns its exit error; after 20 s it is
// killed.
func (p *gatewayProc) stop() error {
	if !p.running() {
		return fmt.Errorf("gateway had already exited: %v", p.err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(20 * time.Second):
		p.kill()
		return errors.New("gateway did not stop within 20 s of SIGTERM")
	}
}

// memory is a process's resident set size and its peak, in bytes, from /proc/PID/status.
type memory struct{ RSS, HWM int64 }

// readMemory reads the memory figures of process pid.
func readMemory(pid int) (memory, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return memory{}, err
	}
	var m memory
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			m.RSS = kb << 10
		case "VmHWM":
			m.HWM = kb << 10
		}
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return m, nil
}

// memSampler samples a process's RSS every interval until stopped, keeping the peak.
type memSampler struct {
	pid  int
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	peak    int64
	samples int
}

func sampleMemory(pid int, interval time.Duration) *memSampler {
	s := &memSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if m, err := readMemory(pid); err == nil {
				s.mu.Lock()
				s.peak = max(s.peak, m.RSS)
				s.samples++
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Close stops sampling and returns the peak RSS seen and the number of samples.
func (s *memSampler) Close() (peak int64, samples int) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.samples
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (b *tailBuffer) WriteString(s string) {
	b.buf = append(b.buf, s...)
	if len(b.buf) > b.max {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.max/2:]...)
	}
}

func (b *tailBuffer) String() string { return string(b.buf) }

// kafkaConn is a raw Kafka-wire client connection: one request at a time, every byte under
// the caller's control, no retries. It is what the soak's committing clients and the hostile
// input tests speak.
type kafkaConn struct {
	conn    net.Conn
	r       *bufio.Reader
	corr    int32
	format  *kmsg.RequestFormatter
	timeout time.Duration
	buf     []byte
}

// maxResponseBytes bounds a response frame the test clients accept.
const maxResponseBytes = 64 << 20

// dialKafka connects to addr; every request must complete within timeout.
func dialKafka(addr, clientID string, timeout time.Duration) (*kafkaConn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return &kafkaConn{
		conn:    c,
		r:       bufio.NewReader(c),
		format:  kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)),
		timeout: timeout,
	}, nil
}

func (c *kafkaConn) Close() error { return c.conn.Close() }

// do sends req and returns its response, decoded at req's version.
func (c *kafkaConn) do(req kmsg.Request) (kmsg.Response, error) {
	c.corr++
	c.buf = c.format.AppendRequest(c.buf[:0], req, c.corr)
	if err := c.conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return nil, err
	}
	if _, err := c.conn.Write(c.buf); err != nil {
		return nil, err
	}
	frame, err := protocol.ReadFrame(c.r, nil, maxResponseBytes)
	if err != nil {
		return nil, err
	}
	corr, resp, err := protocol.ReadResponse(frame, req)
	if err != nil {
		return nil, err
	}
	if corr != c.corr {
		return nil, fmt.Errorf("correlation id %d, want %d", corr, c.corr)
	}
	return resp, nil
}

// apiVersionsOK opens a fresh connection to addr and checks that ApiVersions is answered
// with error code 0 and a non-empty key list.
func apiVersionsOK(addr string) error {
	c, err := dialKafka(addr, "reliability-probe", 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName = "offsetkit-reliability"
	req.ClientSoftwareVersion = "1"
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	r := resp.(*kmsg.ApiVersionsResponse)
	if r.ErrorCode != 0 || len(r.ApiKeys) == 0 {
		return fmt.Errorf("ApiVersions: error code %d, %d keys", r.ErrorCode, len(r.ApiKeys))
	}
	return nil
}

// mib formats a byte count in MiB.
func mib(n int64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB" }

// quoteName renders a possibly hostile name for a report: Go-quoted, long names shortened.
func quoteName(s string) string {
	if len(s) > 40 {
		return strconv.Quote(s[:16]) + fmt.Sprintf("…(%d bytes)", len(s))
	}
	return strconv.Quote(s)
}
