package e2e

import (
	"fmt"
	"regexp"
	"strings"
)

// loopbackPort matches loopback addresses, whose ports are picked at random for each run.
var loopbackPort = regexp.MustCompile(`127\.0\.0\.1:\d+`)

// Table returns the Markdown table of the README: one row per check, with the stock and the
// patched gateway's results and what the stock gateway did.
func Table(stock, patched []Result) string {
	byName := func(rs []Result) map[string]Result {
		m := make(map[string]Result, len(rs))
		for _, r := range rs {
			m[r.Check.Name] = r
		}
		return m
	}
	s, p := byName(stock), byName(patched)
	var b strings.Builder
	b.WriteString("| check | what is checked | stock | patched | what the stock gateway did |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, c := range Checks() {
		sr, sok := s[c.Name]
		pr, pok := p[c.Name]
		if !sok && !pok {
			continue
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", c.Name, cell(c.What), verdict(sr, sok), verdict(pr, pok), cell(detail(sr, sok)))
	}
	return b.String()
}

func verdict(r Result, ok bool) string {
	switch {
	case !ok:
		return "not run"
	case r.Err == nil && r.Died == "":
		return "pass"
	case r.Died != "":
		return "**FAIL** (crashed)"
	default:
		return "**FAIL**"
	}
}

func detail(r Result, ok bool) string {
	if !ok {
		return ""
	}
	var parts []string
	if r.Died != "" {
		parts = append(parts, "the gateway process died: "+r.Died)
	}
	if r.Err != nil {
		parts = append(parts, r.Err.Error())
	}
	if len(parts) == 0 {
		return "as Kafka"
	}
	return strings.Join(parts, "; ")
}

// cell makes s fit in one Markdown table cell.
func cell(s string) string {
	s = loopbackPort.ReplaceAllString(s, "127.0.0.1:PORT")
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// ReplaceBetween returns doc with the text between the lines begin and end replaced by body.
func ReplaceBetween(doc, begin, end, body string) (string, error) {
	i := strings.Index(doc, begin)
	j := strings.Index(doc, end)
	if i < 0 || j < i {
		return "", fmt.Errorf("markers %q and %q not found in order", begin, end)
	}
	return doc[:i+len(begin)] + "\n" + body + doc[j:], nil
}
