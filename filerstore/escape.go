package filerstore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"unicode/utf8"
)

// MaxNameLength is the longest directory name, in bytes, that the store creates. It is the
// filer's default max_file_name_length (255). Group and topic names whose escaped form is
// longer are stored under a hashed name (see [EscapeName]).
const MaxNameLength = 255

// hashMarker separates the readable prefix of a hashed name from its hash. Escaped names
// never contain it: every '%' they hold starts a "%XX" escape with upper-case hex digits.
const hashMarker = "%~"

// emptyName is the directory name of the empty group or topic name.
const emptyName = "%"

// hashedPrefixMax is how many bytes of the escaped name a hashed name keeps in front of
// the marker and the 64 hex digits of the SHA-256 hash.
const hashedPrefixMax = MaxNameLength - len(hashMarker) - sha256.Size*2

// ErrHashedName is returned by [UnescapeName] for a hashed directory name: the original name
// cannot be computed from it and is kept in a marker file beside the data instead.
var ErrHashedName = errors.New("filerstore: hashed name: the original is kept in a marker file")

// errBadEscape is returned by UnescapeName for a directory name that EscapeName never
// produces, such as one a legacy writer created with a raw '%' in it.
var errBadEscape = errors.New("filerstore: not a canonical escaped name")

// EscapeName returns the filer directory name the store uses for a group or topic name.
//
// The mapping is injective, and it is the identity for names that are already safe, so data
// that the SeaweedFS gateway wrote under unescaped names stays readable. A name is safe when
// it is valid UTF-8, is not "", "." or "..", and holds no '/', '%', and no ASCII control
// character (0x00-0x1F, 0x7F). Otherwise:
//
//   - '/', '%', control characters and every byte of an invalid UTF-8 sequence become "%XX"
//     (upper-case hex), as in URL percent-encoding;
//   - "" becomes "%", "." becomes "%2E" and ".." becomes "%2E%2E";
//   - an escaped name longer than [MaxNameLength] bytes becomes a readable prefix of it,
//     followed by "%~" and the hex SHA-256 of the original name, at most 255 bytes. Distinct
//     names get distinct hashed names (barring a SHA-256 collision), and the store keeps the
//     original name in a marker file so that listings return it.
//
// The result is never "", ".", "..", never contains '/', and is valid UTF-8, so it is always
// exactly one path component inside the store's root.
func EscapeName(name string) string {
	switch name {
	case "":
		return emptyName
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	if isSafe(name) {
		if len(name) <= MaxNameLength {
			return name
		}
		return hashed(name, name)
	}
	var b strings.Builder
	b.Grow(len(name) + 16)
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		if r == utf8.RuneError && size <= 1 || needsEscape(r) {
			for j := range size {
				writeEscape(&b, name[i+j])
			}
		} else {
			b.WriteString(name[i : i+size])
		}
		i += size
	}
	esc := b.String()
	if len(esc) > MaxNameLength {
		return hashed(name, esc)
	}
	return esc
}

// UnescapeName returns the group or topic name that [EscapeName] maps to dir. It returns an
// error matching [ErrHashedName] for a hashed name, and an error for any name EscapeName does
// not produce. For every name n that is not hashed, UnescapeName(EscapeName(n)) == n.
func UnescapeName(dir string) (string, error) {
	if dir == emptyName {
		return "", nil
	}
	if strings.Contains(dir, hashMarker) {
		return "", ErrHashedName
	}
	if !strings.Contains(dir, "%") {
		if EscapeName(dir) != dir {
			return "", errBadEscape
		}
		return dir, nil
	}
	out := make([]byte, 0, len(dir))
	for i := 0; i < len(dir); i++ {
		c := dir[i]
		if c != '%' {
			out = append(out, c)
			continue
		}
		if i+2 >= len(dir) {
			return "", errBadEscape
		}
		hi, ok1 := unhex(dir[i+1])
		lo, ok2 := unhex(dir[i+2])
		if !ok1 || !ok2 {
			return "", errBadEscape
		}
		out = append(out, hi<<4|lo)
		i += 2
	}
	name := string(out)
	// Only the canonical form decodes: this keeps the mapping a bijection between names and
	// the directory names the store writes, so no two directories read as one name.
	if EscapeName(name) != dir {
		return "", errBadEscape
	}
	return name, nil
}

func isSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c == '/' || c == '%' {
			return false
		}
		if c >= 0x80 {
			return utf8.ValidString(s[i:]) && isSafeTail(s[i:])
		}
	}
	return true
}

func isSafeTail(s string) bool {
	for _, r := range s {
		if needsEscape(r) {
			return false
		}
	}
	return true
}

func needsEscape(r rune) bool {
	return r < 0x20 || r == 0x7f || r == '/' || r == '%'
}

const hexDigits = "0123456789ABCDEF"

func writeEscape(b *strings.Builder, c byte) {
	b.WriteByte('%')
	b.WriteByte(hexDigits[c>>4])
	b.WriteByte(hexDigits[c&15])
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// hashed builds the hashed directory name of name, whose full escaped form is esc.
func hashed(name, esc string) string {
	sum := sha256.Sum256([]byte(name))
	cut := min(hashedPrefixMax, len(esc))
	// Cut on a rune boundary, and not inside a "%XX" escape, so the prefix stays readable
	// and valid UTF-8.
	for cut > 0 && !utf8.RuneStart(esc[cut]) {
		cut--
	}
	if i := strings.LastIndexByte(esc[max(0, cut-2):cut], '%'); i >= 0 {
		cut = max(0, cut-2) + i
	}
	return esc[:cut] + hashMarker + hex.EncodeToString(sum[:])
}

// isHashed reports whether dir is a hashed directory name.
func isHashed(dir string) bool { return strings.Contains(dir, hashMarker) }
