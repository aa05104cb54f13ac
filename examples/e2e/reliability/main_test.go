package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/filerstore/weedtest"
)

var (
	gatewayOnce sync.Once
	gatewayBin  string
	gatewayErr  error
	gatewayDir  string

	weedOnce sync.Once
	weed     *weedtest.Server
	weedErr  error
)

// sharedWeed returns a filer shared by the tests that do not kill it, started on first use
// and stopped by TestMain.
func sharedWeed(t *testing.T) *weedtest.Server {
	t.Helper()
	weedOnce.Do(func() { weed, weedErr = weedtest.New(weedtest.Options{}) })
	if weedErr != nil {
		t.Fatal(weedErr)
	}
	return weed
}

// gatewayBinary builds the gateway binary once per test binary, with the race detector when
// the tests run with it (go test -race), so the soak and the hostile corpus also hunt data
// races in the gateway: a race makes it exit with status 66, which fails the test.
func gatewayBinary(t *testing.T) string {
	t.Helper()
	gatewayOnce.Do(func() {
		gatewayDir, gatewayErr = os.MkdirTemp("", "offsetkit-reliability-")
		if gatewayErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		gatewayBin, gatewayErr = buildGateway(ctx, gatewayDir, raceEnabled)
	})
	if gatewayErr != nil {
		t.Fatal(gatewayErr)
	}
	return gatewayBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if weed != nil {
		if err := stopWeed(weed); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the shared filer:", err)
			code = 1
		}
	}
	if gatewayDir != "" {
		os.RemoveAll(gatewayDir)
	}
	os.Exit(code)
}
