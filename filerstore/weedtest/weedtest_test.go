package weedtest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/filerstore/weedtest"
)

func TestBinaryFromEnv(t *testing.T) {
	t.Setenv(weedtest.EnvBinary, "/nonexistent/weed")
	if _, err := weedtest.Binary(); err == nil || !strings.Contains(err.Error(), "/nonexistent/weed") {
		t.Fatalf("Binary() = %v, want an error naming the path", err)
	}
}

func TestBinaryMissingSaysHow(t *testing.T) {
	t.Setenv(weedtest.EnvBinary, "")
	t.Setenv("OFFSETKIT_CACHE", t.TempDir())
	_, err := weedtest.Binary()
	if err == nil {
		t.Fatal("Binary() found a weed binary in an empty cache")
	}
	for _, want := range []string{"export OFFSETKIT_WEED=$(./scripts/build-weed.sh)", "./scripts/test.sh"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Binary() = %v; want an error that gives the command %q", err, want)
		}
	}
}

func TestStartStopRestart(t *testing.T) {
	start := time.Now()
	srv := weedtest.Start(t)
	t.Logf("started in %v at %s", time.Since(start), srv.Addr())
	if !srv.Running() {
		t.Fatal("not running after Start")
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if srv.Running() {
		t.Fatal("running after Stop")
	}
	start = time.Now()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted in %v", time.Since(start))
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Kill(); err == nil {
		t.Fatal("Kill of a stopped server succeeded")
	}
}
