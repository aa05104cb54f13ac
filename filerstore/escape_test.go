package filerstore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/offsetkit/offsetkit/filerstore"
)

func TestEscapeNameTable(t *testing.T) {
	long := strings.Repeat("g", 1000)
	tests := []struct {
		name, want string
	}{
		{"orders", "orders"},
		{"my-group_1.v2", "my-group_1.v2"},
		{"grüße-日本", "grüße-日本"},
		{"...", "..."},
		{".hidden", ".hidden"},
		{"offset", "offset"},
		{"consumer_offsets", "consumer_offsets"},
		{"with space", "with space"},
		{"", "%"},
		{".", "%2E"},
		{"..", "%2E%2E"},
		{"a/b", "a%2Fb"},
		{"a//b", "a%2F%2Fb"},
		{"/", "%2F"},
		{"../x", "..%2Fx"},
		{"%", "%25"},
		{"%2F", "%252F"},
		{"%~", "%25~"},
		{"a\x00b", "a%00b"},
		{"tab\there", "tab%09here"},
		{"del\x7f", "del%7F"},
		{"bad\xffutf8", "bad%FFutf8"},
		{"\xe6\x97", "%E6%97"}, // a truncated 3-byte sequence
		{long[:255], long[:255]},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.name), func(t *testing.T) {
			got := filerstore.EscapeName(tt.name)
			if got != tt.want {
				t.Fatalf("EscapeName(%q) = %q, want %q", tt.name, got, tt.want)
			}
			back, err := filerstore.UnescapeName(got)
			if err != nil || back != tt.name {
				t.Fatalf("UnescapeName(%q) = %q, %v; want %q", got, back, err, tt.name)
			}
		})
	}
}

func TestEscapeNameLong(t *testing.T) {
	names := []string{
		strings.Repeat("g", 256),
		strings.Repeat("g", 1000),
		strings.Repeat("g", 999) + "h",
		strings.Repeat("/", 100),                                  // 300 bytes escaped
		strings.Repeat("日", 300),                                  // multi-byte runes across the cut
		strings.Repeat("a%", 200),                                 // escapes across the cut
		strings.Repeat("\xff", 1000),                              // invalid UTF-8
		strings.Repeat("x", 188) + "/" + strings.Repeat("y", 100), // escape straddling the cut
	}
	seen := map[string]string{}
	for _, n := range names {
		esc := filerstore.EscapeName(n)
		if len(esc) > filerstore.MaxNameLength {
			t.Errorf("EscapeName(%.20q...) has %d bytes", n, len(esc))
		}
		if !utf8.ValidString(esc) || strings.Contains(esc, "/") {
			t.Errorf("EscapeName(%.20q...) = %q: not one valid path component", n, esc)
		}
		if !strings.Contains(esc, "%~") {
			t.Errorf("EscapeName(%.20q...) = %q: not hashed", n, esc)
		}
		if _, err := filerstore.UnescapeName(esc); !errors.Is(err, filerstore.ErrHashedName) {
			t.Errorf("UnescapeName(%q) error = %v, want ErrHashedName", esc, err)
		}
		if prev, dup := seen[esc]; dup {
			t.Errorf("%.20q and %.20q both escape to %q", prev, n, esc)
		}
		seen[esc] = n
	}
}

func TestUnescapeNameRejectsNonCanonical(t *testing.T) {
	for _, dir := range []string{
		"%41",      // 'A' needs no escape
		"%2f",      // lower-case hex
		"%2",       // truncated escape
		"a%",       // trailing '%'
		"%%",       // '%' not followed by hex
		"%2E.",     // "..": only the whole-name form is an escape of dots
		"a\x00b",   // raw byte that EscapeName escapes
		"raw/path", // cannot be one component
	} {
		if name, err := filerstore.UnescapeName(dir); err == nil {
			t.Errorf("UnescapeName(%q) = %q, want an error", dir, name)
		}
	}
}

func TestEscapeNameInjective(t *testing.T) {
	// Names built from the characters that matter to escaping, every combination up to
	// length 3: no two share a directory name.
	alphabet := []string{"", "a", "/", "%", ".", "2", "F", "E", "~", "\x00", "\xff"}
	seen := map[string]string{}
	var names []string
	for _, a := range alphabet {
		for _, b := range alphabet {
			for _, c := range alphabet {
				names = append(names, a+b+c)
			}
		}
	}
	for _, n := range names {
		esc := filerstore.EscapeName(n)
		if prev, dup := seen[esc]; dup && prev != n {
			t.Fatalf("%q and %q both escape to %q", prev, n, esc)
		}
		seen[esc] = n
		if esc == "" || esc == "." || esc == ".." || strings.Contains(esc, "/") {
			t.Fatalf("EscapeName(%q) = %q is not one safe path component", n, esc)
		}
	}
}

// FuzzEscape checks, for any two names: the escaped form is one safe path component of at
// most MaxNameLength bytes, it decodes back to the name unless hashed, and distinct names
// never share an escaped form.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", ".", "..", "a/b", "%2F", "%", "%~", "a\x00", "\xff", strings.Repeat("z", 300), strings.Repeat("/", 90)} {
		f.Add(s, "a/b")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ea, eb := filerstore.EscapeName(a), filerstore.EscapeName(b)
		for _, e := range []string{ea, eb} {
			if e == "" || e == "." || e == ".." || strings.Contains(e, "/") || !utf8.ValidString(e) || len(e) > filerstore.MaxNameLength {
				t.Fatalf("escaped form %q is not one safe path component", e)
			}
		}
		if a != b && ea == eb {
			t.Fatalf("%q and %q both escape to %q", a, b, ea)
		}
		back, err := filerstore.UnescapeName(ea)
		switch {
		case errors.Is(err, filerstore.ErrHashedName):
			if len(a) <= filerstore.MaxNameLength/3 {
				t.Fatalf("short name %q was hashed to %q", a, ea)
			}
		case err != nil:
			t.Fatalf("UnescapeName(EscapeName(%q)) = %v", a, err)
		case back != a:
			t.Fatalf("UnescapeName(EscapeName(%q)) = %q", a, back)
		}
	})
}
