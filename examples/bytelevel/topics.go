package main

import (
	"fmt"
	"strconv"
	"strings"
)

// topic is one topic the example serves.
type topic struct {
	Name       string
	Partitions int32
}

// parseTopics parses a -topics flag: name:partitions[,name:partitions...].
func parseTopics(s string) ([]topic, error) {
	var out []topic
	seen := make(map[string]bool)
	for item := range strings.SplitSeq(s, ",") {
		name, count, ok := strings.Cut(strings.TrimSpace(item), ":")
		n, err := strconv.ParseInt(count, 10, 32)
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("topic %q: want name:partitions", item)
		case err != nil || n < 1:
			return nil, fmt.Errorf("topic %q: partitions must be a positive number", item)
		case seen[name]:
			return nil, fmt.Errorf("topic %q listed twice", name)
		}
		seen[name] = true
		out = append(out, topic{Name: name, Partitions: int32(n)})
	}
	return out, nil
}
