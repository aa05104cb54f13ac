package seaweedfs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/examples/seaweedfs/internal/e2e"
	"github.com/offsetkit/offsetkit/filerstore/weedtest"
)

// The binaries and the cluster shared by the tests of this package.
var (
	stockWeed, patchedWeed string
	cluster                *e2e.Cluster
	logDir                 string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if stockWeed, err = weedtest.Binary(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if patchedWeed, err = e2e.PatchedBinary("./build-weed-kafka.sh"); err != nil {
		fmt.Fprintln(os.Stderr, "patched weed:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "offsetkit-seaweedfs-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	logDir = dir
	if cluster, err = e2e.StartCluster(stockWeed, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cluster.Close()
	return m.Run()
}

// startGateway starts bin's gateway on the shared cluster and stops it when t ends.
func startGateway(t *testing.T, bin string) *e2e.Gateway {
	t.Helper()
	gw, err := e2e.StartGateway(bin, cluster, logDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Stop)
	return gw
}

// TestPatchedGateway runs every check against the patched gateway: each must pass.
func TestPatchedGateway(t *testing.T) {
	env := &e2e.Env{
		Cluster: cluster,
		Gateway: startGateway(t, patchedWeed),
		Name:    "patched",
		Other:   func() (*e2e.Gateway, error) { return e2e.StartGateway(stockWeed, cluster, logDir) },
	}
	for _, c := range e2e.Checks() {
		t.Run(c.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			err := c.Run(ctx, env)
			if died := env.Gateway.Dead(); died != "" {
				t.Errorf("gateway dead after the check: %s\n%s", died, tail(env.Gateway.Log()))
				if err := env.Gateway.Restart(); err != nil {
					t.Fatal(err)
				}
			}
			if err != nil {
				t.Fatalf("%s: %v\n--- gateway log (tail) ---\n%s", c.What, err, tail(env.Gateway.Log()))
			}
		})
	}
}

// TestPatchesApply checks that each patch applies on its own to the pinned SeaweedFS module,
// and that all of them apply in order, as build-weed-kafka.sh applies them.
func TestPatchesApply(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/seaweedfs/seaweedfs").Output()
	if err != nil {
		t.Fatalf("go list -m github.com/seaweedfs/seaweedfs: %v", err)
	}
	mod := strings.TrimSpace(string(out))
	patches, err := filepath.Glob("patches/*.patch")
	if err != nil || len(patches) == 0 {
		t.Fatalf("no patches: %v", err)
	}
	// A copy of the module's Kafka gateway, which is all the patches touch.
	pristine := func(t *testing.T) string {
		dir := t.TempDir()
		dst := filepath.Join(dir, "weed", "mq", "kafka")
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cp", "-r", filepath.Join(mod, "weed", "mq", "kafka"), dst).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		if out, err := exec.Command("chmod", "-R", "u+w", dir).CombinedOutput(); err != nil {
			t.Fatalf("chmod: %v %s", err, out)
		}
		if out, err := exec.Command("git", "-C", dir, "init", "-q").CombinedOutput(); err != nil {
			t.Fatalf("git init: %v %s", err, out)
		}
		return dir
	}
	apply := func(dir, patch string, check bool) error {
		abs, err := filepath.Abs(patch)
		if err != nil {
			return err
		}
		args := []string{"-C", dir, "apply"}
		if check {
			args = append(args, "--check")
		}
		if out, err := exec.Command("git", append(args, abs)...).CombinedOutput(); err != nil {
			return fmt.Errorf("git apply %s: %v\n%s", filepath.Base(patch), err, out)
		}
		return nil
	}
	for _, p := range patches {
		t.Run(filepath.Base(p), func(t *testing.T) {
			if err := apply(pristine(t), p, true); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("all-in-order", func(t *testing.T) {
		dir := pristine(t)
		for _, p := range patches {
			if err := apply(dir, p, false); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestSeaweedFSUnitTests runs SeaweedFS's own tests of the Kafka gateway packages in the
// patched source tree build-weed-kafka.sh leaves beside the binary: the tests the patch adds
// (filer failover, the group validator) and the existing ones, which the patch must keep
// passing.
func TestSeaweedFSUnitTests(t *testing.T) {
	src := filepath.Join(filepath.Dir(patchedWeed), "src")
	if _, err := os.Stat(filepath.Join(src, "weed", "mq", "kafka", "protocol", "offsetkit_test.go")); err != nil {
		t.Fatalf("no patched source tree beside %s (build it with build-weed-kafka.sh): %v", patchedWeed, err)
	}
	cmd := exec.Command("go", "test", "-count=1", "./weed/mq/kafka/protocol/", "./weed/mq/kafka/consumer/", "./weed/mq/kafka/gateway/")
	cmd.Dir = src
	// The flags build-weed-kafka.sh builds with, so the test build reuses its cached packages.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false -trimpath")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go test in %s: %v\n%s", src, err, out)
	}
	t.Logf("%s", out)
}

func tail(s string) string {
	const n = 4000
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
