package protocol

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// javaLength must count what Java's String.length counts after Kafka decodes the bytes.
func TestJavaLength(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want int
	}{
		{"empty", "", 0},
		{"ascii", "abc", 3},
		{"two-byte", "é", 1},
		{"three-byte", "€", 1},
		{"supplementary", "😀", 2},
		{"lone continuation byte", "\x80", 1},
		{"invalid lead byte", "\xC0\x80", 2},
		{"truncated three-byte sequence", "\xE2\x82A", 2},
		{"truncated four-byte sequence", "\xF0\x9F\x98", 1},
		{"surrogate encoded in UTF-8", "\xED\xA0\x80", 3},
		{"E0 with a low second byte", "\xE0\x80\x80", 3},
		{"F4 beyond U+10FFFF", "\xF4\x90\x80\x80", 4},
		{"FF", "\xFF\xFE", 2},
		{"many truncated sequences", strings.Repeat("\xE2\x82A", 1366), 2732},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, javaLength(tt.in), "javaLength(%q)", tt.in)
		})
	}
}
