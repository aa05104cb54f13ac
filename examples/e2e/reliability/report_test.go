package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func sampleReport() *report {
	return &report{
		Args: []string{"reliability", "-out", "../RELIABILITY.md"}, Started: time.Date(2026, 11, 28, 13, 0, 0, 0, time.UTC),
		Took: time.Minute, Weed: "/cache/weed", Machine: machine{Host: "vm", CPUs: 2}, Opts: options{kills: 1, down: time.Second, seed: 1},
		Soak: &soakReport{Clients: 2, Partitions: 2, Keys: 4, Duration: 10 * time.Second, Requests: 10, Commits: 20, Acked: 18, Refused: 2,
			RefusedByCode: map[string]int64{"COORDINATOR_NOT_AVAILABLE": 2}, AtLastAck: 4,
			Outages: []outageReport{{Kind: "SIGKILL", KilledAt: 5 * time.Second, Down: time.Second, Restart: 2 * time.Second, Recovered: 4 * time.Second}},
			Groups: &groupsReport{Groups: 2, Slots: 3, Partitions: 6, Joins: 9, Leaves: 9, MaxGeneration: 7, Commits: 30, Acked: 25,
				Refused: map[string]int64{"REBALANCE_IN_PROGRESS": 5}, AtNewest: 12},
			Watch: &watchReport{Rounds: 3, Reads: 48}},
		Hostile: &hostileReport{Categories: []string{"framing"}, ByCategory: map[string]*outcome{"framing": {Inputs: 3, Closed: 3}},
			Inputs: 3, FDsBefore: 10, FDsAfter: 11, Names: []nameResult{{Name: "a|b", Fetched: true, Listed: true}}, FilerEntries: 5, UnderRoot: 5},
		ScaleMem: &scaleReport{Groups: 10, Partitions: 10, Concurrency: 2, Commit: phase{Calls: 10, Total: 3 * time.Millisecond}, Listed: 10},
	}
}

// TestReportPasses renders a passing report: the summary carries the four figures, the exact
// command line and the machine, and no failed checks.
func TestReportPasses(t *testing.T) {
	r := sampleReport()
	require.Empty(t, r.failures())
	var b bytes.Buffer
	require.NoError(t, r.write(&b))
	out := b.String()
	for _, want := range []string{
		"go run -C examples ./e2e/reliability -out ../RELIABILITY.md",
		"on 2026-11-28 13:00 UTC", "host `vm`", "/cache/weed",
		"| Load held | 2 clients", "| Faults survived | 1 × SIGKILL", "| Offsets lost | **0** of 16 keys", "| Inputs tried | 3 hostile",
		"| Consumer groups | 2 groups × 3 kgo members", "| Stale overwrites | **0**", "REBALANCE_IN_PROGRESS 5", "| highest generation committed with | 7 |",
		"COORDINATOR_NOT_AVAILABLE 2", "| framing | 3 | 0 | 3 | 0 |", "`\"a\\|b\"` | NONE | yes | yes", "| memstore | 10 × 10 | 2 | 3ms",
	} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, "FAILED")

}

// TestReportFailures checks that every kind of failed check is reported, and printed at the
// top of the report.
func TestReportFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(*report)
		want   string
	}{
		{"lost", func(r *report) { r.Soak.Lost, r.Soak.LostKeys = 1, []string{"soak-000/1: acked 9, read 8"} }, "1 offsets lost"},
		{"phantom", func(r *report) { r.Soak.Phantom = 1 }, "1 phantom"},
		{"stale at the end", func(r *report) { r.Soak.Stale, r.Soak.Lost = 1, 1 }, "1 stale overwrites"},
		{"stale group key", func(r *report) {
			r.Soak.Groups.Stale, r.Soak.Groups.Problems = 1, []string{"soakgrp-00/soakgroup/3: read 5 after 9 was acknowledged (ack #40)"}
		}, "read 5 after 9"},
		{"unanswered commit landing late", func(r *report) {
			r.Soak.Watch.Unanswered, r.Soak.Watch.UnansweredExamples = 2, []string{"soak-003/soak/1: read 7, whose commit got no answer, after 8 was acknowledged (ack #9)"}
		}, "read 7, whose commit got no answer"},
		{"stale read", func(r *report) {
			r.Soak.Watch.Stale, r.Soak.Watch.Examples = 2, []string{"soak-001/soak/0: read 1 after 2"}
		}, "2 stale overwrites"},
		{"group key lost", func(r *report) { r.Soak.Groups.Lost = 1 }, "consumer groups: 1 offsets lost"},
		{"acked while down", func(r *report) { r.Soak.AckedWhileDown = 3 }, "3 commits acknowledged while weed was dead"},
		{"non-retriable", func(r *report) { r.Soak.NonRetriable = 1 }, "non-retriable"},
		{"soak crash", func(r *report) { r.Soak.GatewayCrashed = true }, "soak: gateway crashed"},
		{"missing kill", func(r *report) { r.Soak.Outages = nil }, "0 of 1 faults"},
		{"hung", func(r *report) { r.Hostile.Hung = []string{"framing: x"} }, "framing: x"},
		{"probe", func(r *report) { r.Hostile.ProbeFailures = []string{"after y"} }, "after y"},
		{"outside root", func(r *report) { r.Hostile.Outside = []string{"/x"} }, "outside the root: /x"},
		{"hostile exit", func(r *report) { r.Hostile.GatewayExit = errors.New("status 2") }, "status 2"},
		{"flood", func(r *report) { r.Hostile.FloodFrames = 4 }, "frame flood"},
		{"descriptors", func(r *report) { r.Hostile.FDsBefore, r.Hostile.FDsAfter = 10, 210 }, "210 file descriptors"},
		{"error", func(r *report) { r.Errors = []string{"scale: boom"} }, "scale: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sampleReport()
			tc.break_(r)
			require.NotEmpty(t, r.failures())
			var b bytes.Buffer
			require.NoError(t, r.write(&b))
			head, _, ok := strings.Cut(b.String(), "## Summary")
			require.True(t, ok)
			require.Contains(t, head, "## FAILED CHECKS")
			require.Contains(t, head, tc.want)
		})
	}
}

// TestFlags checks the command's flag validation.
func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"-soak", "20s", "-kills", "2", "-groups", "10"}, true},
		{[]string{"-soak", "0s"}, false},
		{[]string{"-clients", "0"}, false},
		{[]string{"-kills", "-1"}, false},
		{[]string{"-groups", "0"}, false},
		{[]string{"-consumer-groups", "0", "-members", "1", "-churn", "2s"}, true},
		{[]string{"-consumer-groups", "-1"}, false},
		{[]string{"-members", "0"}, false},
		{[]string{"-churn", "0s"}, false},
		{[]string{"-random", "-1"}, false},
		{[]string{"extra"}, false},
		{[]string{"-nope"}, false},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		require.Equal(t, tc.ok, err == nil, "%q: %v", tc.args, err)
	}
	var stderr bytes.Buffer
	require.Equal(t, 2, run(t.Context(), []string{"-clients", "0"}, io.Discard, &stderr))
	require.Contains(t, stderr.String(), "must be positive")
	require.Equal(t, 0, run(t.Context(), []string{"-h"}, io.Discard, io.Discard))
}
