package offsetkit_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// This file checks the dependency rules stated in doc.go with the go tool itself:
// the root module imports only the standard library, kmsg and kerr (testify in tests); the
// offsetstore package imports only the standard library; protocol and storetest never import
// a backend; and the root module's graph holds no SeaweedFS, gRPC or Kafka client library.

const module = "github.com/offsetkit/offsetkit"

// goTool returns the path of the go command that runs this test.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	_, err := exec.LookPath(p)
	require.NoError(t, err, "cannot find the go command in PATH or GOROOT")
	return p
}

// readSources reads go.mod and every .go file of the root module (not the nested modules).
// The answers of go list depend on them, and go test caches a result only as long as the
// files the test itself opened stay unchanged: reading them here keeps a cached pass honest.
func readSources(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." {
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil || strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if path == "go.mod" || strings.HasSuffix(path, ".go") {
			_, err = os.ReadFile(path)
		}
		return err
	})
	require.NoError(t, err)
}

// goList runs go list in the root module and returns its output lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	readSources(t)
	cmd := exec.Command(goTool(t), append([]string{"list"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		require.NoError(t, err, "go list %s\n%s", strings.Join(args, " "), stderr)
	}
	return strings.Fields(string(out))
}

// nonStandard lists the import paths outside the standard library that pkgs depend on
// (including pkgs themselves), with test dependencies when tests is set.
func nonStandard(t *testing.T, tests bool, pkgs ...string) []string {
	args := []string{"-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}"}
	if tests {
		args = append(args, "-test")
	}
	var out []string
	for _, p := range goList(t, append(args, pkgs...)...) {
		// Test variants print as "path [path.test]"; Fields split off the bracket.
		if !strings.HasPrefix(p, "[") {
			out = append(out, p)
		}
	}
	return out
}

// within reports whether path is prefix or a package below it.
func within(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// ownPackage reports whether path is a package of the root module (or its test binary).
// Paths of the nested modules are not: the root module must not import them.
func ownPackage(path string) bool {
	path = strings.TrimSuffix(strings.TrimSuffix(path, ".test"), "_test")
	return within(path, module) && !within(path, module+"/filerstore") && !within(path, module+"/examples")
}

func allowedProd(path string) bool {
	return ownPackage(path) ||
		within(path, "github.com/twmb/franz-go/pkg/kmsg") || // with its internal kbin
		path == "github.com/twmb/franz-go/pkg/kerr"
}

func allowedTest(path string) bool {
	return allowedProd(path) ||
		within(path, "github.com/stretchr/testify") ||
		// testify's own dependency (v1.12 carries spew and difflib inside)
		within(path, "go.yaml.in/yaml/v3")
}

// disallowed returns the paths that allowed rejects.
func disallowed(paths []string, allowed func(string) bool) []string {
	var bad []string
	for _, p := range paths {
		if !allowed(p) {
			bad = append(bad, p)
		}
	}
	return bad
}

func TestDependencyRules(t *testing.T) {
	cases := []struct {
		name    string
		tests   bool
		pkgs    []string
		allowed func(string) bool
	}{
		{"root module imports only std, kmsg and kerr", false, []string{"./..."}, allowedProd},
		{"root module tests add only testify", true, []string{"./..."}, allowedTest},
		{"offsetstore imports only std", false, []string{"./offsetstore"}, func(p string) bool {
			return p == module+"/offsetstore"
		}},
		{"protocol never imports a backend", false, []string{"./protocol"}, func(p string) bool {
			return allowedProd(p) && !slices.Contains([]string{module + "/memstore", module + "/offsetstore/storetest"}, p)
		}},
		{"storetest never imports a backend", false, []string{"./offsetstore/storetest"}, func(p string) bool {
			return allowedProd(p) && p != module+"/memstore"
		}},
		{"memstore imports only std and offsetstore", false, []string{"./memstore"}, func(p string) bool {
			return p == module+"/memstore" || p == module+"/offsetstore"
		}},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			paths := nonStandard(t, tt.tests, tt.pkgs...)
			require.NotEmpty(t, paths, "go list found no packages for %v", tt.pkgs)
			assert.Empty(t, disallowed(paths, tt.allowed), "%v depend on these, which the rule forbids", tt.pkgs)
		})
	}
}

// TestModuleRequirements checks go.mod: only kmsg, franz-go (for kerr) and testify are
// required directly, and nothing in the module graph is SeaweedFS, gRPC or a Kafka client.
func TestModuleRequirements(t *testing.T) {
	out, err := exec.Command(goTool(t), "mod", "edit", "-json").Output()
	require.NoError(t, err, "go mod edit -json")
	var mod struct {
		Require []struct {
			Path     string
			Indirect bool
		}
	}
	require.NoError(t, json.Unmarshal(out, &mod))
	direct := []string{"github.com/twmb/franz-go/pkg/kmsg", "github.com/twmb/franz-go", "github.com/stretchr/testify"}
	for _, r := range mod.Require {
		if !r.Indirect {
			assert.Contains(t, direct, r.Path, "go.mod requires %s directly; the root module may require only %q", r.Path, direct)
		}
	}
	assert.Empty(t, forbiddenModules(goList(t, "-m", "all")), "the root module graph holds these; SeaweedFS, gRPC and Kafka clients belong in filerstore and examples")
}

// forbiddenModules returns the module paths in list (go list -m all output: path and
// version fields) that the root module's graph must not hold.
func forbiddenModules(fields []string) []string {
	var bad []string
	for _, f := range fields {
		for _, no := range []string{"github.com/seaweedfs/", "google.golang.org/grpc", "github.com/IBM/sarama", "github.com/Shopify/sarama", "github.com/segmentio/kafka-go", "github.com/confluentinc/"} {
			if strings.HasPrefix(f, no) {
				bad = append(bad, f)
			}
		}
	}
	return bad
}

// TestRuleCheckers shows that the checks above reject what they must, so the dependency
// tests can fail.
func TestRuleCheckers(t *testing.T) {
	tests := []struct {
		paths   []string
		allowed func(string) bool
		bad     []string
	}{
		{[]string{module, module + "/protocol", "github.com/twmb/franz-go/pkg/kmsg/internal/kbin", "github.com/twmb/franz-go/pkg/kerr"}, allowedProd, nil},
		{[]string{module + "/protocol", "github.com/twmb/franz-go/pkg/kgo"}, allowedProd, []string{"github.com/twmb/franz-go/pkg/kgo"}},
		{[]string{module + "/filerstore", module + "/examples/gateway"}, allowedProd, []string{module + "/filerstore", module + "/examples/gateway"}},
		{[]string{"github.com/stretchr/testify/require"}, allowedProd, []string{"github.com/stretchr/testify/require"}},
		{[]string{"github.com/stretchr/testify/require", "go.yaml.in/yaml/v3", module + "/memstore.test", module + "_test"}, allowedTest, nil},
		{[]string{"gopkg.in/yaml.v3"}, allowedTest, []string{"gopkg.in/yaml.v3"}},
		{[]string{module + "x", module + "x_test"}, allowedTest, []string{module + "x", module + "x_test"}},
		{[]string{"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"}, allowedTest, []string{"github.com/seaweedfs/seaweedfs/weed/pb/filer_pb"}},
		{[]string{"github.com/twmb/franz-go/pkg/kmsgx"}, allowedTest, []string{"github.com/twmb/franz-go/pkg/kmsgx"}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.bad, disallowed(tt.paths, tt.allowed), "disallowed(%q)", tt.paths)
	}
	assert.Equal(t, []string{"google.golang.org/grpc"}, forbiddenModules([]string{"github.com/twmb/franz-go", "v1.22.3", "google.golang.org/grpc", "v1.70.0"}), "forbiddenModules must catch gRPC")
}
