package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRewriteReadme(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{"replaces the section",
			"# x\n" + beginMarker + "\nold\n" + endMarker + "\nrest\n",
			"# x\n" + beginMarker + "\n\nTABLE\n\n" + endMarker + "\nrest\n", false},
		{"no markers", "# x\n", "", true},
		{"markers out of order", endMarker + "\n" + beginMarker + "\n", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "README.md")
			require.NoError(t, os.WriteFile(path, []byte(tt.in), 0o644))
			err := rewriteReadme(path, "TABLE\n")
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, tt.want, string(got))
		})
	}
}

func TestCPUTimeGrows(t *testing.T) {
	t0, err := cpuTime(os.Getpid())
	require.NoError(t, err)
	x := 0
	for i := 0; ; i++ {
		x += i * i
		if i%1_000_000 == 0 {
			t1, err := cpuTime(os.Getpid())
			require.NoError(t, err)
			if t1 > t0 {
				break
			}
		}
	}
	_, err = cpuTime(-1)
	require.Error(t, err)
	_ = x
}

func TestRender(t *testing.T) {
	cfg := config{ops: []string{"commit"}, clients: []int{1}, targets: []string{"gateway", "kfake", "echo", "before"}, groups: 16, partitions: 8, rounds: 1, duration: time.Second}
	res := map[cellKey]sample{
		{"commit", 1, "gateway"}: {perSec: 2000, cpu: 10 * time.Microsecond},
		{"commit", 1, "kfake"}:   {perSec: 1000, cpu: 40 * time.Microsecond},
		{"commit", 1, "echo"}:    {perSec: 2500, cpu: 8 * time.Microsecond},
		{"commit", 1, "before"}:  {perSec: 1000, cpu: 20 * time.Microsecond},
	}
	out := render(cfg, res)
	for _, want := range []string{
		"| commit, 1 | 2000 | 1000 | 2.00x | 10.0 vs 40.0 µs (0.25x) | 2500, 8.0 µs | 1.25x |",
		"| commit, 1 | 2.00x | 10.0 vs 20.0 µs (0.50x) |",
	} {
		require.True(t, strings.Contains(out, want), "missing %q in\n%s", want, out)
	}
}
