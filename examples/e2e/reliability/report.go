package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report is everything the command measured, rendered by write.
type report struct {
	Args       []string
	Started    time.Time
	Took       time.Duration
	Weed       string
	Machine    machine
	Opts       options
	Soak       *soakReport
	Hostile    *hostileReport
	ScaleMem   *scaleReport
	ScaleFiler *scaleReport
	Cluster    *clusterReport
	Errors     []string
}

// machine describes where the figures were measured.
type machine struct {
	Host, OS, CPU, Go, Commit, Load string
	CPUs                            int
	MemTotal                        string
}

// describeMachine describes this machine and checkout; report, the file being written, does
// not count as an uncommitted change.
func describeMachine(report string) machine {
	m := machine{OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version(), CPUs: runtime.NumCPU()}
	m.Host, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				m.MemTotal = strings.TrimSpace(v)
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.Load = strings.Join(f[:3], " ")
		}
	}
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		m.OS = strings.TrimSpace(string(out)) + " " + runtime.GOARCH
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
			for _, line := range strings.Split(strings.TrimRight(string(st), "\n"), "\n") {
				if len(line) > 3 && (report == "" || filepath.Base(line[3:]) != filepath.Base(report)) {
					m.Commit += " (with uncommitted changes)"
					break
				}
			}
		}
	}
	return m
}

// failures lists every check the run failed; an empty list is a pass.
func (r *report) failures() []string {
	f := slices.Clone(r.Errors)
	if s := r.Soak; s != nil {
		if s.Lost > 0 || s.Phantom > 0 {
			f = append(f, fmt.Sprintf("soak: %d offsets lost, %d phantom: %v", s.Lost, s.Phantom, s.LostKeys))
		}
		if s.AckedWhileDown > 0 {
			f = append(f, fmt.Sprintf("soak: %d commits acknowledged while weed was dead", s.AckedWhileDown))
		}
		if s.NonRetriable > 0 {
			f = append(f, fmt.Sprintf("soak: %d commits refused with a non-retriable code: %v", s.NonRetriable, s.NonRetriableByCode))
		}
		if s.GatewayCrashed || s.GatewayExit != nil {
			f = append(f, fmt.Sprintf("soak: gateway crashed or did not stop cleanly: %v", s.GatewayExit))
		}
		if n := s.StaleOverwrites(); n > 0 {
			var ex []string
			if s.Groups != nil {
				ex = append(ex, s.Groups.Problems...)
			}
			if s.Watch != nil {
				ex = append(ex, s.Watch.Examples...)
				ex = append(ex, s.Watch.UnansweredExamples...)
			}
			f = append(f, fmt.Sprintf("soak: %d stale overwrites (a value older than an acknowledged one stored): %v", n, ex))
		}
		if g := s.Groups; g != nil && (g.Lost > 0 || g.Phantom > 0) {
			f = append(f, fmt.Sprintf("soak: consumer groups: %d offsets lost, %d phantom: %v", g.Lost, g.Phantom, g.Problems))
		}
		if len(s.Outages) != r.Opts.kills+r.Opts.pauses {
			f = append(f, fmt.Sprintf("soak: %d of %d faults done", len(s.Outages), r.Opts.kills+r.Opts.pauses))
		}
	}
	if c := r.Cluster; c != nil {
		if c.Lost > 0 || c.Stale > 0 {
			f = append(f, fmt.Sprintf("cluster: %d offsets lost, %d stale reads: %v", c.Lost, c.Stale, c.LostKeys))
		}
		for _, fault := range c.Faults {
			if fault.Failover > 20*time.Second {
				f = append(f, fmt.Sprintf("cluster: the groups of node %d moved after %v (%s), over 20 s", fault.Node, fault.Failover, fault.Kind))
			}
		}
	}
	if h := r.Hostile; h != nil {
		for _, l := range [][]string{h.Hung, h.ProbeFailures, h.Metadata, h.NameFailures} {
			f = append(f, l...)
		}
		for _, p := range h.Outside {
			f = append(f, "hostile: filer entry created outside the root: "+p)
		}
		if h.Crashed || h.GatewayExit != nil {
			f = append(f, fmt.Sprintf("hostile: gateway crashed or did not stop cleanly: %v", h.GatewayExit))
		}
		if h.FDsAfter < 0 || h.FDsAfter > h.FDsBefore+fdSlack {
			f = append(f, fmt.Sprintf("hostile: the gateway holds %d file descriptors after the corpus, %d before", h.FDsAfter, h.FDsBefore))
		}
		if h.FloodFrames > 0 && !h.FloodServed {
			f = append(f, "hostile: no answer after the frame flood")
		}
	}
	return f
}

// write renders the report as Markdown.
func (r *report) write(out io.Writer) error {
	w := bufio.NewWriter(out)
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	m := r.Machine
	p("# Reliability figures")
	p("")
	p("Produced by `go run -C examples ./e2e/reliability -out ../RELIABILITY.md` (source:")
	p("[examples/e2e/reliability](examples/e2e/reliability)); the exact command line was")
	p("")
	p("    go run -C examples ./e2e/%s", strings.Join(r.Args, " "))
	p("")
	p("on %s UTC, taking %v, at commit %s, on host `%s`: %s, %d CPUs (%s), %s memory, %s, Go %s,",
		r.Started.Format("2006-01-02 15:04"), dur(r.Took), or(m.Commit, "?"), m.Host, m.OS, m.CPUs, or(m.CPU, "?"), or(m.MemTotal, "?"), "load average "+or(m.Load, "?")+" at the start", m.Go)
	p("with the SeaweedFS binary `%s`. Everything ran on 127.0.0.1. The machine is shared (2 cores, other", r.Weed)
	p("jobs running), so the times are indicative; the counts and the checks are what matter.")
	p("")
	p("To reproduce: `./scripts/build-weed.sh` (once, builds or finds the weed binary), then the command above.")
	p("Shorter versions of the same checks (an ~18 s soak with 2 kills, a 4 s SIGSTOP and 2 consumer groups, the hostile")
	p("corpus with 150 random inputs of each kind, a cluster of 3 gateways with a 3 s lease, 100 groups × 100 partitions) run with hard")
	p("assertions in `go test -race ./...` inside examples/ (`./scripts/test.sh`), against a gateway")
	p("binary built with the race detector.")
	p("")
	if fails := r.failures(); len(fails) > 0 {
		p("## FAILED CHECKS")
		p("")
		for _, f := range fails {
			p("- %s", f)
		}
		p("")
	}
	p("## Summary")
	p("")
	p("| | |")
	p("|---|---|")
	if s := r.Soak; s != nil {
		p("| Load held | %d clients committing for %v: %d OffsetCommit requests, %d partition commits (%.0f/s), %d acknowledged |",
			s.Clients, dur(s.Duration), s.Requests, s.Commits, float64(s.Commits)/s.Duration.Seconds(), s.Acked)
		kills, stops := 0, 0
		for _, o := range s.Outages {
			if o.Kind == "SIGSTOP" {
				stops++
			} else {
				kills++
			}
		}
		p("| Faults survived | %d × SIGKILL of weed (filer, master and volume server) with a restart on the same data directory, %d × SIGSTOP/SIGCONT (hung filer); the gateway was never restarted and never crashed |", kills, stops)
		if g := s.Groups; g != nil {
			p("| Consumer groups | %d groups × %d kgo members joining and leaving (%d joins, %d leaves, generations up to %d): %d partition commits, %d acknowledged |",
				g.Groups, g.Slots, g.Joins, g.Leaves, g.MaxGeneration, g.Commits, g.Acked)
		}
		lost, keys := s.Lost, s.Keys
		if g := s.Groups; g != nil {
			lost += g.Lost
			keys += g.Groups * g.Partitions
		}
		p("| Offsets lost | **%d** of %d keys (every key read back; %d raw commits refused with a retriable code, %d acknowledged while weed was dead or stopped, %d non-retriable answers) |",
			lost, keys, s.Refused, s.AckedWhileDown, s.NonRetriable)
		if w := s.Watch; w != nil {
			p("| Stale overwrites | **%d** (a value older than an acknowledged one stored, whether or not its own commit was answered: %d keys read back at the end, %d reads by fetches during the soak) |",
				s.StaleOverwrites(), keys, w.Reads)
		}
	}
	if h := r.Hostile; h != nil {
		p("| Inputs tried | %d hostile single-connection inputs + %d held half-frames + concurrent 16 MiB frames + %d path-trick group names + oversized metadata; %d hung, %d crashes, %d failed probes, %d filer entries outside the root |",
			h.Inputs, h.Held, len(h.Names), len(h.Hung), b2i(h.Crashed), len(h.ProbeFailures), len(h.Outside))
	}
	if c := r.Cluster; c != nil {
		p("| Cluster | %d gateways on one filer root; SIGKILL and restart of a coordinator, SIGSTOP/SIGCONT of another: %d commits acknowledged, %d refused, **%d lost**, **%d stale**; groups served again after %s |",
			c.Gateways, c.Acked, c.Refused, c.Lost, c.Stale, c.failovers())
	}
	if s := r.ScaleFiler; s != nil {
		p("| Scale | %d groups × %d partitions on filerstore: commit %v, fetch-all %v, list-groups %v |",
			s.Groups, s.Partitions, dur(s.Commit.Total), dur(s.FetchAll.Total), dur(s.ListGroups.P50))
	}
	p("")
	r.writeObservations(p)
	if s := r.Soak; s != nil {
		r.writeSoak(p, s)
	}
	if h := r.Hostile; h != nil {
		r.writeHostile(p, h)
	}
	if c := r.Cluster; c != nil {
		r.writeCluster(p, c)
	}
	if r.ScaleMem != nil || r.ScaleFiler != nil {
		r.writeScale(p)
	}
	return w.Flush()
}

// writeObservations states what the figures show beyond the pass/fail checks.
func (r *report) writeObservations(p func(string, ...any)) {
	var notes []string
	if s := r.Soak; s != nil {
		for _, o := range s.Outages {
			if o.Kind != "SIGSTOP" {
				continue
			}
			notes = append(notes, fmt.Sprintf("**A hung filer costs a commit at most the gateway's -offsets-timeout.** While weed was "+
				"stopped for %v (its ports open, nothing answering), the gateway answered each commit with the retriable "+
				"COORDINATOR_NOT_AVAILABLE once the commit had waited -offsets-timeout (5 s, Kafka's offsets.commit.timeout.ms), "+
				"as Kafka does when an offsets write times out; the first acknowledgement came %v after the SIGSTOP. The clients "+
				"wait up to %v for an answer and saw %d transport errors in the whole soak. A commit refused by the timeout may "+
				"still reach the filer when it resumes (the filer already holds the write); the gateway moves the group's fence "+
				"before it accepts the group's next write, so the filer refuses the late write if it comes after the fence move, "+
				"and in this run no late write overwrote a newer acknowledged offset (stale overwrites = %d). A client that gives up "+
				"on a commit and sends a newer one finds the newer one waiting in the gateway until the older write has ended "+
				"(%d requests went unanswered within the clients' timeout in this run): a group's writes reach the filer in the "+
				"order the gateway accepted them.",
				dur(o.Down), dur(o.Recovered), dur(r.Opts.reqTimeout), s.Transport, s.StaleOverwrites(), s.Transport))
			break
		}
		for _, o := range s.Outages {
			if o.Kind != "SIGSTOP" || o.Down >= 5*time.Second {
				continue
			}
			notes = append(notes, fmt.Sprintf("While weed was stopped for %v, less than -offsets-timeout, the commits sent meanwhile "+
				"waited in the gateway and the filer and were answered once it resumed (the first acknowledgement %v after the "+
				"SIGSTOP); none was acknowledged while weed was stopped.", dur(o.Down), dur(o.Recovered)))
			break
		}
		kills := 0
		var worst time.Duration
		for _, o := range s.Outages {
			if o.Kind == "SIGKILL" {
				kills++
				worst = max(worst, o.Recovered-o.Down-o.Restart) // from the filer answering weedtest's probe
			}
		}
		if kills > 0 {
			notes = append(notes, fmt.Sprintf("While weed was dead every commit was refused at once with COORDINATOR_NOT_AVAILABLE "+
				"(retriable), and commits were acknowledged again, without restarting the gateway, at most %v after "+
				"the restarted filer answered a probe (the gRPC connection's reconnect backoff).", dur(worst)))
		}
	}
	if h := r.Hostile; h != nil {
		if h.FloodFrames > 0 {
			notes = append(notes, fmt.Sprintf("**Memory stays bounded under concurrent large frames.** The gateway never "+
				"allocates for a declared size, a frame above -max-frame-bytes (16 MiB) closes the connection, and large frames "+
				"in flight across all connections share the -max-inflight-bytes budget (64 MiB, like Kafka's "+
				"queued.max.request.bytes; a frame that does not fit waits): %d connections each sending a 16 MiB frame at "+
				"once took its RSS to %s (%s peak within the other checks). There is no limit on the number of connections, "+
				"each of which costs a goroutine and small buffers; a gateway open to untrusted clients still wants one in "+
				"front of it.",
				h.FloodFrames, mib(h.FloodPeakRSS), mib(h.PeakRSS)))
		}
		if o := h.ByCategory["array counts"]; o != nil && o.Answered > 0 {
			notes = append(notes, fmt.Sprintf("Negative counts (-1, -2, MinInt32) of arrays that are not nullable at the "+
				"version sent (OffsetCommit v2 topics, say) are decoded as empty arrays and answered, where Kafka rejects "+
				"the request (\"non-nullable field ... was serialized as null\"); in all, %d of the %d array-count inputs "+
				"were answered and the rest closed. Harmless (nothing is allocated or stored), but more lenient than a "+
				"broker.", o.Answered, o.Inputs))
		}
	}
	if len(notes) == 0 {
		return
	}
	p("## Observations")
	p("")
	for _, n := range notes {
		p("- %s", n)
	}
	p("")
}

func (r *report) writeSoak(p func(string, ...any), s *soakReport) {
	p("## Soak: the gateway over a filer that is killed")
	p("")
	p("The gateway binary (`examples/gateway -store filer`) runs as a process over a real `weed server -filer`.")
	p("%d raw Kafka-wire clients (no client library, no retries hidden from the count), one connection", s.Clients)
	p("and one group each, %d partitions per group, commit strictly increasing offsets as fast as the", s.Partitions)
	p("gateway answers: each OffsetCommit carries one partition or all of them, at versions 2, 5, 7, 8 and 9")
	p("(one per client). After a refusal or transport error a client waits 50 ms and goes on with the next")
	p("value; a client that gets no answer within %v closes its connection (a transport error) and", r.Opts.reqTimeout)
	p("reconnects. weed (filer, master and volume server in one process) is SIGKILLed %s, stays dead", times(r.Opts.kills))
	p("for %v each time and is restarted on the same data directory and ports; then it is SIGSTOPped %s", r.Opts.down, times(r.Opts.pauses))
	p("for %v (every second time for %v, shorter than the gateway's 5 s -offsets-timeout; a hung filer:", r.Opts.pauseFor, r.Opts.pauseFor/4)
	p("its ports stay open, nothing answers) and SIGCONTed. The faults are")
	p("evenly spaced. For every (group, partition) each client tracks the last commit it saw")
	p("acknowledged (NONE) and every value it attempted after it; afterwards every key is read back")
	p("through the gateway (OffsetFetch v5) once weed is healthy.")
	p("")
	p("| Figure | Value |")
	p("|---|---|")
	p("| committing phase | %v |", dur(s.Duration))
	p("| OffsetCommit requests | %d |", s.Requests)
	p("| partition commits attempted | %d |", s.Commits)
	p("| acknowledged (NONE) | %d |", s.Acked)
	p("| refused, retriable code | %d %s |", s.Refused, codes(s.RefusedByCode))
	p("| refused, non-retriable code | %d %s |", s.NonRetriable, codes(s.NonRetriableByCode))
	p("| transport errors (requests) | %d (connections opened: %d) |", s.Transport, s.Dials)
	p("| acknowledged while weed was dead or stopped | **%d** |", s.AckedWhileDown)
	p("| keys read back | %d |", s.Keys)
	p("| … at the last acknowledged offset | %d |", s.AtLastAck)
	p("| … at a later, unacknowledged attempt (it reached the filer) | %d |", s.AtLaterAttempt)
	p("| … never acknowledged and absent | %d |", s.NeverAckedEmpty)
	p("| **lost** (older than the last acknowledgement, or absent) | **%d** |", s.Lost)
	p("| phantom (a value never sent) | %d |", s.Phantom)
	p("| gateway peak RSS | %s |", mib(s.GatewayPeakRSS))
	p("| gateway exit on SIGTERM after the soak | %s |", errOr(s.GatewayExit, "clean (status 0)"))
	p("")
	p("| Fault | Signal | At | weed down for | Restart (SIGCONT) until the filer answers | Fault to next acknowledged commit |")
	p("|---|---|---|---|---|---|")
	for i, o := range s.Outages {
		p("| %d | %s | %v | %v | %v | %v |", i+1, o.Kind, dur(o.KilledAt), dur(o.Down), dur(o.Restart), dur(o.Recovered))
	}
	p("")
	if len(s.LostKeys) > 0 {
		p("Lost or phantom keys:")
		p("")
		for _, k := range s.LostKeys {
			p("- `%s`", k)
		}
		p("")
	}
	if g := s.Groups; g != nil {
		r.writeGroups(p, s, g)
	}
}

func (r *report) writeGroups(p func(string, ...any), s *soakReport, g *groupsReport) {
	p("### Consumer groups and stale overwrites")
	p("")
	p("Besides the raw clients, %d consumer groups of %d franz-go (kgo) classic group members each commit to", g.Groups, g.Slots)
	p("a topic of %d partitions through the same gateway, during the same faults. Each member commits the", g.Partitions)
	p("partitions assigned to it with CommitOffsetsSync, one commit at a time, 20 ms apart, with the group's")
	p("generation; its revocation callback waits for its commit in flight, so a partition is committed by one")
	p("member at a time. Every %v one member, picked at random (seed %d), leaves the group (Close, once its", r.Opts.churn, r.Opts.seed)
	p("commit in flight is answered) or joins it again, so the groups rebalance all along.")
	p("")
	p("Stale overwrites: every key (raw clients' and groups') hands out offsets in increasing order, so a")
	p("smaller offset is an older one. For every key the soak keeps the newest acknowledged offset and the")
	p("order of its acknowledgement among all acknowledgements; a value read that is older than the newest")
	p("offset acknowledged before the read began is a stale overwrite (an older write landed over a newer,")
	p("acknowledged one). Keys are checked at the end (read-back) and all along by a client fetching every")
	p("key through the gateway (OffsetFetch v5), round after round, 100 ms apart. An older value whose")
	p("commit the client had given up on without an answer (a transport error) is counted apart: that")
	p("commit was accepted and still being written when the client sent the newer one, so the two were")
	p("concurrent.")
	p("")
	p("| Figure | Value |")
	p("|---|---|")
	p("| member clients started / closed | %d / %d |", g.Joins, g.Leaves)
	p("| assignments / revocations seen by the members | %d / %d |", g.Assignments, g.Revocations)
	p("| highest generation committed with | %d |", g.MaxGeneration)
	p("| partition commits attempted | %d |", g.Commits)
	p("| acknowledged (NONE) | %d |", g.Acked)
	p("| refused | %s |", or(codes(g.Refused), "none"))
	p("| no response (error) | %s |", or(codes(g.Failed), "none"))
	p("| group keys read back | %d |", g.Groups*g.Partitions)
	p("| … at the newest acknowledged offset | %d |", g.AtNewest)
	p("| … at a later, unacknowledged attempt | %d |", g.AtLaterAttempt)
	p("| … never acknowledged | %d |", g.NeverAcked)
	p("| lost (absent after an acknowledgement) | %d |", g.Lost)
	p("| phantom (a value never sent) | %d |", g.Phantom)
	if w := s.Watch; w != nil {
		p("| fetch rounds during the soak (every key each) | %d (%d key reads, %d fetches failed while weed was down) |", w.Rounds, w.Reads, w.Failed)
	}
	p("| **stale overwrites**: raw keys at the end + group keys at the end + reads during the soak + older offsets whose commit got no answer | **%d** (%d + %d + %d + %d) |",
		s.StaleOverwrites(), s.Stale, g.Stale, watchStale(s.Watch), s.UnansweredLate())
	unansweredReads := int64(0)
	if s.Watch != nil {
		unansweredReads = s.Watch.Unanswered
	}
	p("| older offsets whose commit got no answer (the client gave up): raw keys at the end + group keys at the end + reads during the soak | %d (%d + %d + %d) |",
		s.UnansweredLate(), s.Unanswered, g.Unanswered, unansweredReads)
	p("")
	var ex []string
	ex = append(ex, g.Problems...)
	if s.Watch != nil {
		ex = append(ex, s.Watch.Examples...)
		ex = append(ex, s.Watch.UnansweredExamples...)
	}
	if len(ex) > 0 {
		p("Stale, lost or phantom values:")
		p("")
		for _, e := range ex {
			p("- `%s`", e)
		}
		p("")
	}
}

func watchStale(w *watchReport) int64 {
	if w == nil {
		return 0
	}
	return w.Stale
}

func (r *report) writeHostile(p func(string, ...any), h *hostileReport) {
	p("## Hostile input at the wire")
	p("")
	p("A gateway process over a real filer (root `/offsetkit-reliability/hostile`) gets each input on a fresh")
	p("connection, whose write side is then closed; it must answer or close the connection within %v, and", answerTimeout)
	p("a fresh connection must then get an ApiVersions answer (after every input; after every 10th of the")
	p("bulk random and mutated kinds). Seed %d.", r.Opts.seed)
	p("")
	p("| Category | Inputs | Answered | Closed | Hung |")
	p("|---|---|---|---|---|")
	tot := outcome{}
	for _, c := range h.Categories {
		o := h.ByCategory[c]
		p("| %s | %d | %d | %d | %d |", c, o.Inputs, o.Answered, o.Closed, o.Hung)
		tot.Inputs += o.Inputs
		tot.Answered += o.Answered
		tot.Closed += o.Closed
		tot.Hung += o.Hung
	}
	p("| **total** | %d | %d | %d | %d |", tot.Inputs, tot.Answered, tot.Closed, tot.Hung)
	p("")
	p("Framing: 0-3 bytes of a size; declared sizes -1, -2, -100, MinInt32, 0, 1, 4, 7, 16 MiB+1, 1 GiB,")
	p("MaxInt32; a 100-byte frame cut at 10; a 16 MiB frame cut at 2 MiB. Headers: 22 unknown API keys, 22")
	p("unserved versions, bad client-id lengths, cut headers, tag counts of 2^32 and 2^63, tag sizes past")
	p("the frame, an overlong uvarint. Bodies: array counts -1, -2, MinInt32, MaxInt32 and 2^20 (int32)")
	p("and 0, 2^31, 2^32, 2^63+5, MaxUint64 (compact) in OffsetCommit, OffsetFetch, OffsetDelete,")
	p("Metadata, DescribeGroups, DeleteGroups, JoinGroup, ListOffsets, ListGroups, FindCoordinator;")
	p("string lengths -2, -100, MinInt16, MaxInt16 and past the frame; path-trick topic names; every")
	p("prefix of 15 valid requests (one per served API); valid requests with trailing garbage; seeded")
	p("mutations (1-4 bytes flipped) of valid requests; seeded random bodies behind valid headers and")
	p("random unframed bytes.")
	p("")
	p("Then: %d connections held open with half-sent frames while a fresh one is served; 4 concurrent", h.Held)
	p("16 MiB frames; metadata of 4,096 bytes (accepted), 4,097 bytes, 1 MiB and 15 MiB (each answered")
	p("OFFSET_METADATA_TOO_LARGE); failures: %d.", len(h.Metadata))
	p("")
	p("| Memory (gateway RSS) | |")
	p("|---|---|")
	p("| at start | %s |", mib(h.BaselineRSS))
	p("| peak during the corpus and the checks above | %s |", mib(h.PeakRSS))
	p("| after them | %s |", mib(h.EndRSS))
	p("| open file descriptors before / after (every connection closed) | %d / %d |", h.FDsBefore, h.FDsAfter)
	if h.FloodFrames > 0 {
		p("| peak with %d concurrent 16 MiB frames (a measurement, not a check: see Observations) | %s |", h.FloodFrames, mib(h.FloodPeakRSS))
	}
	p("")
	p("Filer: the whole tree was walked from `/` (ListEntries) before and after the run. Entries created")
	p("during the run: %d, under the store's root or its directory of group fences and states (`{root}.offsetkit`,", h.FilerEntries)
	p("a sibling of the root): %d; anywhere else: **%d** (the filer's own `/topics/.system` metadata log and", h.UnderRoot, len(h.Outside))
	p("`/etc` are not counted).")
	p("")
	p("Path-trick group names, each committed with OffsetCommit v8, fetched back with OffsetFetch v5 and")
	p("looked up in ListGroups v4:")
	p("")
	p("| Group name (Go-quoted) | Commit code | Fetched back | Listed |")
	p("|---|---|---|---|")
	for _, n := range h.Names {
		p("| `%s` | %s | %s | %s |", strings.ReplaceAll(quoteName(n.Name), "|", `\|`), codeOr(n.CommitCode), yes(n.Fetched), yes(n.Listed))
	}
	p("")
}

func (r *report) writeScale(p func(string, ...any)) {
	p("## Scale")
	p("")
	p("Direct store calls: one Commit of all of a group's partitions per group (partitions spread over 4")
	p("topics), then one FetchAll per group with every value checked, then ListGroups (5 times; median).")
	p("")
	p("| Store | Groups × partitions | Concurrent calls | Commit (total, offsets/s, p50, p99 per group) | FetchAll (total, offsets/s, p50, p99) | ListGroups (median) |")
	p("|---|---|---|---|---|---|")
	for _, s := range []struct {
		name string
		r    *scaleReport
	}{{"memstore", r.ScaleMem}, {"filerstore", r.ScaleFiler}} {
		if s.r == nil {
			continue
		}
		n := s.r.Groups * s.r.Partitions
		p("| %s | %d × %d | %d | %v, %.0f/s, %v, %v | %v, %.0f/s, %v, %v | %v (%d groups) |", s.name, s.r.Groups, s.r.Partitions, s.r.Concurrency,
			dur(s.r.Commit.Total), s.r.Commit.perSecond(n), dur(s.r.Commit.P50), dur(s.r.Commit.P99),
			dur(s.r.FetchAll.Total), s.r.FetchAll.perSecond(n), dur(s.r.FetchAll.P50), dur(s.r.FetchAll.P99),
			dur(s.r.ListGroups.P50), s.r.Listed)
	}
	p("")
}

func codes(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	slices.Sort(parts)
	return "(" + strings.Join(parts, ", ") + ")"
}

func codeOr(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if code < 0 {
		return "no answer"
	}
	return codeName(code)
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func errOr(err error, def string) string {
	if err == nil {
		return def
	}
	return err.Error()
}

// dur formats a duration with three significant digits or so.
func dur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	case d >= 10*time.Microsecond:
		return d.Round(100 * time.Nanosecond).String()
	}
	return d.String()
}

// failovers lists the failover time of each fault.
func (c *clusterReport) failovers() string {
	var parts []string
	for _, f := range c.Faults {
		parts = append(parts, fmt.Sprintf("%v (%s)", dur(f.Failover), f.Kind))
	}
	return strings.Join(parts, ", ")
}

func (r *report) writeCluster(p func(string, ...any), c *clusterReport) {
	p("## Cluster: three gateways on one filer, coordinators killed and paused")
	p("")
	p("%d gateway processes (`examples/gateway -store filer -lease %v -node-id N`) run on one filer root as", c.Gateways, c.Lease)
	p("one cluster (package ownership). %d groups, each with two committers on different partitions, each", c.Groups)
	p("committer the only writer of its key and bootstrapped at a different gateway (the others listed")
	p("after it as further bootstrap servers, as clients are configured): a kgo client (kadm)")
	p("that finds the group's coordinator itself, commits strictly increasing offsets (3 s retry timeout, then")
	p("the commit counts as refused and the next value goes) and fetches the group after every")
	p("acknowledgement. The coordinator of the first group is SIGKILLed and restarted with its node id;")
	p("then another gateway is SIGSTOPped for twice the lease and SIGCONTed. Afterwards every key is read")
	p("back. A fetch that returns less than a value acknowledged before it counts as stale; a key read")
	p("back older than its last acknowledgement counts as lost. Failover is the time from the signal until")
	p("every key whose group the stopped gateway coordinated has been acknowledged again.")
	p("")
	p("| Figure | Value |")
	p("|---|---|")
	p("| every gateway names the same coordinator for every group | %s |", yes(c.Agreed))
	p("| gateways coordinating groups before the faults | %d of %d |", c.Spread, c.Gateways)
	p("| commits acknowledged | %d |", c.Acked)
	p("| commits refused (retriable, or the client's retry timeout) | %d |", c.Refused)
	p("| keys read back | %d |", c.Keys)
	p("| **lost** | **%d** |", c.Lost)
	p("| **stale** (a fetch older than an earlier acknowledgement) | **%d** |", c.Stale)
	p("")
	p("| Fault | Node | Keys it coordinated | Signal to every key acknowledged again |")
	p("|---|---|---|---|")
	for _, f := range c.Faults {
		p("| %s | %d | %d | %v |", f.Kind, f.Node, f.Keys, dur(f.Failover))
	}
	p("")
	p("A SIGKILLed gateway's address refuses connections, so the others take its groups once its record")
	p("has not changed for a quarter of the lease (%v), without waiting out the lease. A SIGSTOPped", c.Lease)
	p("gateway still accepts connections and answers nothing: its groups move when its lease runs out on")
	p("the others' clocks, and clients wait for their request timeout before they look for the")
	p("coordinator again, which adds to the lease.")
	p("")
	if len(c.LostKeys) > 0 {
		p("Lost keys:")
		p("")
		for _, k := range c.LostKeys {
			p("- `%s`", k)
		}
		p("")
	}
}
