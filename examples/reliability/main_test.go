package main

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"
)

var (
	gatewayOnce sync.Once
	gatewayBin  string
	gatewayErr  error
	gatewayDir  string
)

// gatewayBinary builds the gateway binary once per test binary.
func gatewayBinary(t *testing.T) string {
	t.Helper()
	gatewayOnce.Do(func() {
		gatewayDir, gatewayErr = os.MkdirTemp("", "offsetkit-reliability-")
		if gatewayErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		gatewayBin, gatewayErr = buildGateway(ctx, gatewayDir)
	})
	if gatewayErr != nil {
		t.Fatal(gatewayErr)
	}
	return gatewayBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if gatewayDir != "" {
		os.RemoveAll(gatewayDir)
	}
	os.Exit(code)
}
