package interop

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// buildGateway builds the gateway binary once per test run.
var buildGateway = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "offsetkit-gateway-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "gateway")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/offsetkit/offsetkit/examples/gateway")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", &exec.ExitError{ProcessState: cmd.ProcessState, Stderr: out}
	}
	return bin, nil
})

// gatewayProc is the gateway binary running as a child process.
type gatewayProc struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	log  strings.Builder
	done chan error
}

var listeningRE = regexp.MustCompile(`msg="gateway listening" addr=(\S+)`)

// startProcess runs the gateway binary on a free loopback port with the extra flags and
// waits until it listens. The process is killed when the test ends if it still runs.
func startProcess(t *testing.T, flags ...string) *gatewayProc {
	t.Helper()
	bin, err := buildGateway()
	require.NoError(t, err, "go build ./gateway")
	p := &gatewayProc{done: make(chan error, 1)}
	p.cmd = exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, flags...)...)
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
		}
	})
	select {
	case p.addr = <-addr:
	case err := <-p.done:
		t.Fatalf("gateway exited before listening: %v\n%s", err, p.logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("gateway did not start listening\n%s", p.logs())
	}
	return p
}

func (p *gatewayProc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// stop sends sig and requires a clean exit (status 0) that closed the store.
func (p *gatewayProc) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
	select {
	case err := <-p.done:
		require.NoError(t, err, "exit status\n%s", p.logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("gateway did not stop on %v\n%s", sig, p.logs())
	}
	require.Contains(t, p.logs(), `msg="shutting down"`)
	require.NotContains(t, p.logs(), "level=ERROR")
}

// TestGatewayProcess builds the gateway, runs it as a process, commits and fetches through
// it with kadm while a client holds an open connection, and stops it with SIGTERM and SIGINT.
func TestGatewayProcess(t *testing.T) {
	for _, sig := range []os.Signal{syscall.SIGTERM, os.Interrupt} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startProcess(t, "-topics", "t1:3,orders:12", "-log-level", "debug")
			ctx := testContext(t)
			adm := newKadm(t, p.addr)
			resp, err := adm.CommitOffsets(ctx, "proc", offsets("orders", map[int32]int64{11: 1234}, "m"))
			require.NoError(t, err)
			require.NoError(t, resp.Error())
			fetched, err := adm.FetchOffsets(ctx, "proc")
			require.NoError(t, err)
			o, ok := fetched.Lookup("orders", 11)
			require.True(t, ok)
			require.Equal(t, int64(1234), o.At)
			// The request log line is written after the response: wait for it.
			require.Eventually(t, func() bool { return strings.Contains(p.logs(), "api=OffsetCommit version=10") },
				10*time.Second, 5*time.Millisecond, "no OffsetCommit v10 in the log:\n%s", p.logs())
			p.stop(t, sig)
		})
	}
}

// TestGatewayProcessBadFlags: bad flags exit with status 2 and a message, without serving.
func TestGatewayProcessBadFlags(t *testing.T) {
	bin, err := buildGateway()
	require.NoError(t, err)
	for _, args := range [][]string{
		{"-topics", "t1:0"},
		{"-store", "tape"},
		{"-log-level", "loud"},
		{"-no-such-flag"},
		{"-offsets-retention", "0s"},
		{"-offsets-retention-check-interval", "-1m"},
		{"-offsets-timeout", "0s"},
		{"-metrics-addr", "0.0.0.0:0"},
		{"-metrics-addr", "example.com:9644"},
	} {
		out, err := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...).CombinedOutput()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%v: %s", args, out)
		require.NotEqual(t, 0, ee.ExitCode(), "%v: %s", args, out)
		require.NotContains(t, string(out), "gateway listening")
	}
}
