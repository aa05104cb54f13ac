package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/offsetkit/offsetkit/filerstore/weedtest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// hostileConfig configures a hostile-input run.
type hostileConfig struct {
	Weed       *weedtest.Server // a running filer
	GatewayBin string
	Root       string // the gateway's filer root; nothing may be written outside it and its {Root}.offsetkit sibling
	Seed       uint64 // seeds the random and mutated inputs
	Random     int    // number of inputs of each random kind
	// Flood, if positive, is a number of concurrent 16 MiB frames sent after the checks, with
	// the gateway's peak RSS measured on its own: a figure, not a check.
	Flood int
	Logf  func(format string, args ...any)
}

// hostileInput is one input: bytes written on a fresh connection, whose write side is then
// closed. The gateway must answer or close the connection.
type hostileInput struct {
	category string
	name     string
	data     []byte
}

// outcome counts what the gateway did with a category's inputs.
type outcome struct {
	Inputs, Answered, Closed, Hung int
}

// nameResult is what happened to one path-trick group name.
type nameResult struct {
	Name       string
	CommitCode int16 // the OffsetCommit partition code
	Fetched    bool  // OffsetFetch returned the committed offset
	Listed     bool  // ListGroups listed the name
}

// hostileReport is the outcome of a hostile-input run.
type hostileReport struct {
	Categories    []string
	ByCategory    map[string]*outcome
	Inputs        int
	Hung          []string // inputs neither answered nor closed within the timeout
	ProbeFailures []string // inputs after which a fresh ApiVersions failed
	Metadata      []string // oversized-metadata checks that failed
	Names         []nameResult
	NameFailures  []string // accepted names that did not round-trip
	Held          int      // connections held open with partial frames while probing
	FDsBefore     int      // the gateway's open file descriptors before the corpus
	FDsAfter      int      // and after it, every client connection closed
	BaselineRSS   int64
	PeakRSS       int64
	EndRSS        int64
	FloodFrames   int      // concurrent 16 MiB frames of the flood measurement
	FloodPeakRSS  int64    // the gateway's peak RSS during the flood
	FloodServed   bool     // a fresh ApiVersions was answered after the flood
	FilerEntries  int      // entries created in the filer during the run
	UnderRoot     int      // of which under Root
	Outside       []string // entries created outside Root
	GatewayExit   error
	Crashed       bool
	Took          time.Duration
}

// answerTimeout bounds how long an input may go without an answer or a close.
const answerTimeout = 10 * time.Second

// runHostile starts a gateway process over cfg.Weed and feeds it the hostile corpus.
func runHostile(ctx context.Context, cfg hostileConfig) (*hostileReport, error) {
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	start := time.Now()
	before, err := walkFiler(ctx, cfg.Weed.Addr())
	if err != nil {
		return nil, fmt.Errorf("walking the filer before the run: %w", err)
	}
	gw, err := startGateway(ctx, cfg.GatewayBin, "-store", "filer", "-filer", cfg.Weed.Addr(),
		"-filer-root", cfg.Root, "-topics", "hostile:4,t1:3", "-log-level", "info")
	if err != nil {
		return nil, err
	}
	defer func() {
		if gw.running() {
			gw.kill()
		}
	}()
	pid := gw.cmd.Process.Pid
	rep := &hostileReport{ByCategory: map[string]*outcome{}}
	if m, err := readMemory(pid); err == nil {
		rep.BaselineRSS = m.RSS
	}
	rep.FDsBefore = countFDs(pid)
	mem := sampleMemory(pid, 20*time.Millisecond)

	inputs := hostileCorpus(cfg.Seed, cfg.Random)
	for i, in := range inputs {
		if ctx.Err() != nil {
			break
		}
		o := rep.ByCategory[in.category]
		if o == nil {
			o = &outcome{}
			rep.ByCategory[in.category] = o
			rep.Categories = append(rep.Categories, in.category)
		}
		o.Inputs++
		rep.Inputs++
		switch send(gw.addr, in.data) {
		case "answered":
			o.Answered++
		case "closed":
			o.Closed++
		default:
			o.Hung++
			rep.Hung = append(rep.Hung, in.category+": "+in.name)
		}
		if !gw.running() {
			rep.Crashed = true
			rep.ProbeFailures = append(rep.ProbeFailures, fmt.Sprintf("gateway exited after %s: %s", in.category, in.name))
			break
		}
		// A fresh connection after every input (every 10th for the bulk random kinds).
		if in.category != "random bytes" && in.category != "mutated requests" || i%10 == 0 {
			if err := apiVersionsOK(gw.addr); err != nil {
				rep.ProbeFailures = append(rep.ProbeFailures, fmt.Sprintf("after %s %s: %v", in.category, in.name, err))
			}
		}
	}
	logf("hostile: %d single-connection inputs in %v", rep.Inputs, time.Since(start).Round(time.Millisecond))

	if !rep.Crashed {
		rep.Held = 200
		if err := heldConnections(gw.addr, rep.Held); err != nil {
			rep.ProbeFailures = append(rep.ProbeFailures, "with held connections: "+err.Error())
		}
		if err := bigFrames(gw.addr, 4, server16MiB-1); err != nil {
			rep.ProbeFailures = append(rep.ProbeFailures, "after concurrent 16 MiB frames: "+err.Error())
		}
		rep.Metadata = metadataChecks(gw.addr)
		rep.Names, rep.NameFailures = pathTricks(gw.addr)
		if err := apiVersionsOK(gw.addr); err != nil {
			rep.ProbeFailures = append(rep.ProbeFailures, "at the end: "+err.Error())
		}
		rep.Crashed = !gw.running()
	}
	rep.PeakRSS, _ = mem.Close()
	if m, err := readMemory(pid); err == nil {
		rep.EndRSS = m.RSS
	}
	// Every connection of the corpus is closed on our side by now; the gateway's side must
	// follow (it sees EOF), so its descriptors come back to where they started.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		rep.FDsAfter = countFDs(pid)
		if rep.FDsAfter <= rep.FDsBefore+fdSlack || time.Now().After(deadline) {
			break
		}
	}
	if cfg.Flood > 0 && !rep.Crashed {
		flood := sampleMemory(pid, 20*time.Millisecond)
		rep.FloodFrames = cfg.Flood
		rep.FloodServed = bigFrames(gw.addr, cfg.Flood, server16MiB-1) == nil
		rep.FloodPeakRSS, _ = flood.Close()
		rep.Crashed = !gw.running()
		logf("hostile: %d concurrent 16 MiB frames: peak RSS %s", cfg.Flood, mib(rep.FloodPeakRSS))
	}
	if rep.Crashed {
		rep.GatewayExit = fmt.Errorf("gateway exited: %v\n%s", gw.err, gw.logs())
	} else {
		rep.GatewayExit = gw.stop()
	}

	after, err := walkFiler(ctx, cfg.Weed.Addr())
	if err != nil {
		return rep, fmt.Errorf("walking the filer after the run: %w", err)
	}
	for p := range after {
		if _, ok := before[p]; ok || filerOwn(p) {
			continue
		}
		rep.FilerEntries++
		if underRoot(p, cfg.Root) || underRoot(p, cfg.Root+filerStateSuffix) {
			rep.UnderRoot++
			continue
		}
		rep.Outside = append(rep.Outside, p)
	}
	slices.Sort(rep.Outside)
	rep.Took = time.Since(start)
	return rep, nil
}

// fdSlack is how many more descriptors the gateway may hold after the corpus than before
// (gRPC may open a connection to the filer or a listener may be re-armed).
const fdSlack = 4

// countFDs returns the number of open file descriptors of process pid, -1 if unknown.
func countFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// server16MiB is the gateway's default -max-frame-bytes.
const server16MiB = 16 << 20

// send writes data on a fresh connection, closes the write side, and reports whether the
// gateway "answered" (sent at least one byte), "closed" the connection without an answer, or
// "hung" (did neither within answerTimeout).
func send(addr string, data []byte) string {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "hung: dial: " + err.Error()
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(answerTimeout))
	type result struct {
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		n, err := io.Copy(io.Discard, c)
		got <- result{n, err}
	}()
	if _, err := c.Write(data); err == nil {
		_ = c.(*net.TCPConn).CloseWrite()
	}
	r := <-got
	var ne net.Error
	switch {
	case errors.As(r.err, &ne) && ne.Timeout():
		return "hung"
	case r.n > 0:
		return "answered"
	}
	return "closed"
}

// heldConnections opens n connections that each send part of a frame and then stall, checks
// that a fresh connection is still served, and closes them.
func heldConnections(addr string, n int) error {
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		conns = append(conns, c)
		// 1,000 bytes declared, 10 sent.
		if _, err := c.Write([]byte{0, 0, 3, 0xe8, 0, 8, 0, 2, 0, 0, 0, 1, 0, 0}); err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
	}
	return apiVersionsOK(addr)
}

// bigFrames sends k frames of size bytes concurrently, each an OffsetCommit header followed
// by zeros (not a valid body), and checks the gateway is still served.
func bigFrames(addr string, k, size int) error {
	var wg sync.WaitGroup
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			frame := make([]byte, 4+size)
			binary.BigEndian.PutUint32(frame, uint32(size))
			copy(frame[4:], []byte{0, 8, 0, 2, 0, 0, 0, 7, 0xff, 0xff})
			send(addr, frame)
		}()
	}
	wg.Wait()
	return apiVersionsOK(addr)
}

// metadataChecks commits metadata at, just above and far above Kafka's 4,096-byte limit, and
// returns what did not get the expected code.
func metadataChecks(addr string) []string {
	var fails []string
	for _, tc := range []struct {
		size int
		want int16
	}{
		{4096, 0},
		{4097, kerr.OffsetMetadataTooLarge.Code},
		{1 << 20, kerr.OffsetMetadataTooLarge.Code},
		{15 << 20, kerr.OffsetMetadataTooLarge.Code},
	} {
		c, err := dialKafka(addr, "hostile-metadata", 30*time.Second)
		if err != nil {
			fails = append(fails, fmt.Sprintf("metadata %d bytes: %v", tc.size, err))
			continue
		}
		code, err := commitOne(c, "hostile-metadata", "hostile", 1, 7, strings.Repeat("m", tc.size))
		c.Close()
		if err != nil || code != tc.want {
			fails = append(fails, fmt.Sprintf("metadata %d bytes: code %s (want %s), err %v", tc.size, codeName(code), codeName(tc.want), err))
		}
	}
	return fails
}

// hostileNames are group names that try to escape a directory layout.
func hostileNames() []string {
	return []string{
		"../../x", "a/../../b", "%2e%2e", "%2e%2e%2fescape", "", ".", "..", "...", "/", "//", "/abs",
		"a/b", `..\..\win`, "a\x00b", "\x00", strings.Repeat("g", 1000), strings.Repeat("é", 300),
		"\xff\xfe\xfd", "bad\xc3utf8", " ", "trailing/", "./.", "%00", "%", "%25", "topics/../../etc",
		"CON", "a\nb", "\t", "..%2f..%2fetc", strings.Repeat("../", 100),
	}
}

// pathTricks commits an offset for every hostile name, then checks that each accepted name
// fetches its offset back and is listed by ListGroups.
func pathTricks(addr string) ([]nameResult, []string) {
	c, err := dialKafka(addr, "hostile-names", 30*time.Second)
	if err != nil {
		return nil, []string{err.Error()}
	}
	defer c.Close()
	var res []nameResult
	var fails []string
	for i, name := range hostileNames() {
		r := nameResult{Name: name}
		want := int64(1000 + i)
		code, err := commitOne(c, name, "hostile", 0, want, name)
		r.CommitCode = code
		if err != nil {
			fails = append(fails, fmt.Sprintf("commit %s: %v", quoteName(name), err))
			res = append(res, r)
			continue
		}
		if code == 0 {
			got, err := fetchOffsets(c, name, "hostile", 1)
			r.Fetched = err == nil && got[0] == want
			if !r.Fetched {
				fails = append(fails, fmt.Sprintf("fetch %s: got %v, err %v, want %d", quoteName(name), got, err, want))
			}
		}
		res = append(res, r)
	}
	req := kmsg.NewPtrListGroupsRequest()
	req.Version = 4
	resp, err := c.do(req)
	if err != nil {
		return res, append(fails, "ListGroups: "+err.Error())
	}
	listed := map[string]bool{}
	for _, g := range resp.(*kmsg.ListGroupsResponse).Groups {
		listed[g.Group] = true
	}
	for i := range res {
		res[i].Listed = listed[res[i].Name]
		if res[i].CommitCode == 0 && !res[i].Listed {
			fails = append(fails, "ListGroups does not list "+quoteName(res[i].Name))
		}
	}
	return res, fails
}

// commitOne commits one offset with OffsetCommit v8 and returns the partition's code.
func commitOne(c *kafkaConn, group, topic string, partition int32, offset int64, metadata string) (int16, error) {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group = group
	req.Generation = -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = partition, offset, -1, &metadata
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := c.do(req)
	if err != nil {
		return -1, err
	}
	for _, t := range resp.(*kmsg.OffsetCommitResponse).Topics {
		for _, p := range t.Partitions {
			return p.ErrorCode, nil
		}
	}
	return -1, errors.New("no partition in the response")
}

// filerOwn reports whether p is a path the filer writes on its own (its metadata log and
// configuration), which the gateway does not create.
func filerOwn(p string) bool {
	for _, own := range []string{"/topics/.system", "/etc"} {
		if p == own || strings.HasPrefix(p, own+"/") || strings.HasPrefix(own, p+"/") {
			return true
		}
	}
	return false
}

// frame prefixes body with its int32 size.
func frame(body []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	return append(out, body...)
}

// sized is a frame whose declared size is size, followed by body (whatever its length).
func sized(size int32, body []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(size))
	return append(out, body...)
}

// enc builds request bytes by hand.
type enc struct{ b []byte }

func (e *enc) i8(v int8) *enc    { e.b = append(e.b, byte(v)); return e }
func (e *enc) i16(v int16) *enc  { e.b = binary.BigEndian.AppendUint16(e.b, uint16(v)); return e }
func (e *enc) i32(v int32) *enc  { e.b = binary.BigEndian.AppendUint32(e.b, uint32(v)); return e }
func (e *enc) i64(v int64) *enc  { e.b = binary.BigEndian.AppendUint64(e.b, uint64(v)); return e }
func (e *enc) uv(v uint64) *enc  { e.b = binary.AppendUvarint(e.b, v); return e }
func (e *enc) raw(b []byte) *enc { e.b = append(e.b, b...); return e }
func (e *enc) str(s string) *enc { return e.i16(int16(len(s))).raw([]byte(s)) }
func (e *enc) cstr(s string) *enc {
	return e.uv(uint64(len(s)) + 1).raw([]byte(s))
}

// hdr starts a request with header v1 (non-flexible): key, version, correlation id, null
// client id.
func hdr(key kmsg.Key, version int16) *enc {
	return (&enc{}).i16(key.Int16()).i16(version).i32(1).i16(-1)
}

// keyVersion is an API key and a version.
type keyVersion struct {
	key     kmsg.Key
	version int16
}

// fhdr starts a request with header v2 (flexible): header v1 plus an empty tag section.
func fhdr(key kmsg.Key, version int16) *enc { return hdr(key, version).uv(0) }

// validRequests are well-formed requests of every API the gateway serves, the seeds of the
// truncated, trailing-garbage and mutated inputs.
func validRequests() []kmsg.Request {
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version = 8
	commit.Group = "hostile-valid"
	commit.Generation = -1
	for _, topic := range []string{"hostile", "t1"} {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		for p := range int32(2) {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p, 10+int64(p), 3, kmsg.StringPtr("md")
			rt.Partitions = append(rt.Partitions, rp)
		}
		commit.Topics = append(commit.Topics, rt)
	}
	commit2 := *commit
	commit2.Version = 2
	commit2.RetentionTimeMillis = 60000

	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 8
	for _, g := range []string{"hostile-valid", "other"} {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic = "hostile"
		rt.Partitions = []int32{0, 1, 2}
		rg.Topics = append(rg.Topics, rt)
		fetch.Groups = append(fetch.Groups, rg)
	}
	fetch1 := kmsg.NewPtrOffsetFetchRequest()
	fetch1.Version = 1
	fetch1.Group = "hostile-valid"
	ft := kmsg.NewOffsetFetchRequestTopic()
	ft.Topic = "hostile"
	ft.Partitions = []int32{0, 1}
	fetch1.Topics = append(fetch1.Topics, ft)

	del := kmsg.NewPtrOffsetDeleteRequest()
	del.Group = "hostile-valid"
	dt := kmsg.NewOffsetDeleteRequestTopic()
	dt.Topic = "t1"
	dp := kmsg.NewOffsetDeleteRequestTopicPartition()
	dp.Partition = 1
	dt.Partitions = append(dt.Partitions, dp)
	del.Topics = append(del.Topics, dt)

	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	av.ClientSoftwareName, av.ClientSoftwareVersion = "hostile", "1.0"

	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("hostile")
	md.Topics = append(md.Topics, mt)

	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.Version = 4
	fc.CoordinatorKeys = []string{"hostile-valid", "x"}

	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version = 4
	hb.Group, hb.Generation, hb.MemberID = "hostile-valid", 1, "m"

	lg := kmsg.NewPtrListGroupsRequest()
	lg.Version = 4
	lg.StatesFilter = []string{"Empty"}

	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Version = 5
	dg.Groups = []string{"hostile-valid", "nope"}

	dl := kmsg.NewPtrDeleteGroupsRequest()
	dl.Version = 2
	dl.Groups = []string{"hostile-none"}

	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Version = 7
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "hostile"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Partition, lp.Timestamp = 0, -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)

	sg := kmsg.NewPtrSyncGroupRequest()
	sg.Version = 5
	sg.Group, sg.Generation, sg.MemberID = "hostile-valid", 1, "m"

	jg := kmsg.NewPtrJoinGroupRequest()
	jg.Version = 5
	jg.Group, jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis = "hostile-join", 6000, 1000
	jg.ProtocolType = "consumer"
	jp := kmsg.NewJoinGroupRequestProtocol()
	jp.Name, jp.Metadata = "range", []byte{0, 1, 0, 0, 0, 0}
	jg.Protocols = append(jg.Protocols, jp)

	return []kmsg.Request{commit, &commit2, fetch, fetch1, del, av, md, fc, hb, lg, dg, dl, lo, sg, jg}
}

// encodeRequest returns req's frame without its size prefix.
func encodeRequest(req kmsg.Request) []byte {
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("hostile")).AppendRequest(nil, req, 1)
	return f[4:]
}

// hostileCorpus builds every single-connection input, in a fixed order for a given seed.
func hostileCorpus(seed uint64, random int) []hostileInput {
	var in []hostileInput
	add := func(cat, name string, data []byte) {
		in = append(in, hostileInput{category: cat, name: name, data: data})
	}

	// Framing.
	add("framing", "nothing", nil)
	for n := 1; n < 4; n++ {
		add("framing", fmt.Sprintf("%d bytes of a size", n), make([]byte, n))
	}
	for _, size := range []int32{-1, -2, -100, math.MinInt32, 0, 1, 4, 7} {
		add("framing", fmt.Sprintf("declared size %d", size), sized(size, hdr(kmsg.ApiVersions, 0).b))
	}
	for _, size := range []int32{server16MiB + 1, 1 << 30, math.MaxInt32} {
		add("framing", fmt.Sprintf("declared size %d", size), sized(size, make([]byte, 1024)))
	}
	add("framing", "declared 100, sent 10", sized(100, hdr(kmsg.ApiVersions, 0).b[:10]))
	add("framing", "declared 16 MiB, sent 2 MiB", sized(server16MiB, append(hdr(kmsg.OffsetCommit, 2).b, make([]byte, 2<<20)...)))

	// Headers.
	for _, key := range []int16{0, 1, 4, 5, 6, 7, 17, 19, 20, 22, 28, 32, 36, 57, 60, 68, 75, 99, 1000, math.MaxInt16, -1, math.MinInt16} {
		add("unknown API keys", fmt.Sprintf("key %d", key), frame(hdr(kmsg.Key(key), 0).raw(make([]byte, 16)).b))
	}
	for _, kv := range []keyVersion{
		{kmsg.OffsetCommit, 10}, {kmsg.OffsetCommit, 11}, {kmsg.OffsetCommit, 100}, {kmsg.OffsetCommit, -1},
		{kmsg.OffsetFetch, 11}, {kmsg.OffsetFetch, -1}, {kmsg.OffsetDelete, 1}, {kmsg.OffsetDelete, -1},
		{kmsg.ApiVersions, 5}, {kmsg.ApiVersions, 99}, {kmsg.ApiVersions, -1},
		{kmsg.Metadata, 14}, {kmsg.Metadata, -1}, {kmsg.FindCoordinator, 7}, {kmsg.JoinGroup, 10},
		{kmsg.Heartbeat, 5}, {kmsg.LeaveGroup, 6}, {kmsg.SyncGroup, 6}, {kmsg.DescribeGroups, 7},
		{kmsg.ListGroups, 6}, {kmsg.DeleteGroups, 4}, {kmsg.ListOffsets, 12},
	} {
		add("unknown versions", fmt.Sprintf("key %d v%d", kv.key, kv.version), frame(hdr(kv.key, kv.version).raw(make([]byte, 16)).b))
	}
	add("headers", "client id length -2", frame((&enc{}).i16(kmsg.ApiVersions.Int16()).i16(0).i32(1).i16(-2).b))
	add("headers", "client id length 32767, 3 bytes", frame((&enc{}).i16(kmsg.ApiVersions.Int16()).i16(0).i32(1).i16(math.MaxInt16).raw([]byte("abc")).b))
	add("headers", "header cut after the key", frame((&enc{}).i16(kmsg.ApiVersions.Int16()).b))
	add("headers", "header cut after the version", frame((&enc{}).i16(kmsg.ApiVersions.Int16()).i16(3).b))
	add("headers", "tag count 2^32", frame(hdr(kmsg.ApiVersions, 3).uv(1<<32).b))
	add("headers", "tag count 2^63", frame(hdr(kmsg.ApiVersions, 3).uv(1<<63).b))
	add("headers", "tag size past the frame", frame(hdr(kmsg.ApiVersions, 3).uv(1).uv(0).uv(1<<20).b))
	add("headers", "overlong uvarint", frame(hdr(kmsg.ApiVersions, 3).raw(slices.Repeat([]byte{0x80}, 11)).b))

	// Arrays and strings in bodies.
	counts := []int32{-1, -2, math.MinInt32, math.MaxInt32, 1 << 20}
	for _, n := range counts {
		add("array counts", fmt.Sprintf("OffsetCommit v2 topics %d", n),
			frame(hdr(kmsg.OffsetCommit, 2).str("g").i32(-1).str("").i64(-1).i32(n).b))
		add("array counts", fmt.Sprintf("OffsetCommit v2 partitions %d", n),
			frame(hdr(kmsg.OffsetCommit, 2).str("g").i32(-1).str("").i64(-1).i32(1).str("hostile").i32(n).b))
		add("array counts", fmt.Sprintf("OffsetFetch v1 topics %d", n), frame(hdr(kmsg.OffsetFetch, 1).str("g").i32(n).b))
		add("array counts", fmt.Sprintf("OffsetFetch v5 partitions %d", n), frame(hdr(kmsg.OffsetFetch, 5).str("g").i32(1).str("hostile").i32(n).b))
		add("array counts", fmt.Sprintf("OffsetDelete v0 topics %d", n), frame(hdr(kmsg.OffsetDelete, 0).str("g").i32(n).b))
		add("array counts", fmt.Sprintf("Metadata v1 topics %d", n), frame(hdr(kmsg.Metadata, 1).i32(n).b))
		add("array counts", fmt.Sprintf("DescribeGroups v0 groups %d", n), frame(hdr(kmsg.DescribeGroups, 0).i32(n).b))
		add("array counts", fmt.Sprintf("DeleteGroups v0 groups %d", n), frame(hdr(kmsg.DeleteGroups, 0).i32(n).b))
		add("array counts", fmt.Sprintf("JoinGroup v0 protocols %d", n), frame(hdr(kmsg.JoinGroup, 0).str("g").i32(6000).str("").str("consumer").i32(n).b))
		add("array counts", fmt.Sprintf("JoinGroup v0 metadata bytes %d", n),
			frame(hdr(kmsg.JoinGroup, 0).str("g").i32(6000).str("").str("consumer").i32(1).str("range").i32(n).b))
		add("array counts", fmt.Sprintf("ListOffsets v1 topics %d", n), frame(hdr(kmsg.ListOffsets, 1).i32(-1).i32(n).b))
	}
	for _, u := range []uint64{0, 1 << 31, 1 << 32, 1<<63 + 5, math.MaxUint64} {
		add("array counts", fmt.Sprintf("OffsetFetch v8 groups uvarint %d", u), frame(fhdr(kmsg.OffsetFetch, 8).uv(u).b))
		add("array counts", fmt.Sprintf("OffsetFetch v8 topics uvarint %d", u), frame(fhdr(kmsg.OffsetFetch, 8).uv(2).cstr("g").uv(u).b))
		add("array counts", fmt.Sprintf("OffsetCommit v8 topics uvarint %d", u),
			frame(fhdr(kmsg.OffsetCommit, 8).cstr("g").i32(-1).cstr("").uv(0).uv(u).b))
		add("array counts", fmt.Sprintf("ListGroups v4 states uvarint %d", u), frame(fhdr(kmsg.ListGroups, 4).uv(u).b))
		add("array counts", fmt.Sprintf("FindCoordinator v4 keys uvarint %d", u), frame(fhdr(kmsg.FindCoordinator, 4).i8(0).uv(u).b))
		add("strings", fmt.Sprintf("OffsetCommit v8 group length uvarint %d", u), frame(fhdr(kmsg.OffsetCommit, 8).uv(u).b))
	}
	for _, n := range []int16{-2, -100, math.MinInt16, math.MaxInt16, 100} {
		add("strings", fmt.Sprintf("OffsetCommit v2 group length %d", n), frame(hdr(kmsg.OffsetCommit, 2).i16(n).raw([]byte("gg")).b))
		add("strings", fmt.Sprintf("OffsetCommit v2 metadata length %d", n),
			frame(hdr(kmsg.OffsetCommit, 2).str("g").i32(-1).str("").i64(-1).i32(1).str("hostile").i32(1).i32(0).i64(5).i16(n).b))
		add("strings", fmt.Sprintf("OffsetFetch v1 topic length %d", n), frame(hdr(kmsg.OffsetFetch, 1).str("g").i32(1).i16(n).b))
	}

	// Path tricks in topic names (the gateway knows no such topic; nothing may be stored).
	for _, name := range []string{"../../x", "..", ".", "", "a/b", "\x00", "%2e%2e", strings.Repeat("t", 1000)} {
		add("topic names", "OffsetCommit v2 topic "+quoteName(name),
			frame(hdr(kmsg.OffsetCommit, 2).str("g-topic-trick").i32(-1).str("").i64(-1).i32(1).str(name).i32(1).i32(0).i64(5).i16(-1).b))
	}

	// Truncations of valid requests, trailing garbage, and seeded mutations.
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	valid := validRequests()
	for _, req := range valid {
		full := encodeRequest(req)
		name := fmt.Sprintf("%s v%d", kmsg.NameForKey(req.Key()), req.GetVersion())
		step := max(1, len(full)/120)
		for cut := 0; cut < len(full); cut += step {
			add("truncated requests", fmt.Sprintf("%s cut at %d of %d", name, cut, len(full)), frame(full[:cut]))
		}
		garbage := make([]byte, 16)
		for i := range garbage {
			garbage[i] = byte(rng.Uint32())
		}
		add("trailing garbage", name, frame(append(slices.Clone(full), garbage...)))
	}
	for i := range random {
		req := valid[rng.IntN(len(valid))]
		if kmsg.Key(req.Key()) == kmsg.JoinGroup { // a mutated JoinGroup may legitimately wait for its rebalance
			req = valid[0]
		}
		b := encodeRequest(req)
		for range 1 + rng.IntN(4) {
			b[8+rng.IntN(len(b)-8)] ^= byte(1 + rng.IntN(255)) // keep key and version
		}
		add("mutated requests", fmt.Sprintf("#%d of %s", i, kmsg.NameForKey(req.Key())), frame(b))
	}
	served := []keyVersion{
		{kmsg.OffsetCommit, 2}, {kmsg.OffsetCommit, 8}, {kmsg.OffsetFetch, 1}, {kmsg.OffsetFetch, 8},
		{kmsg.OffsetDelete, 0}, {kmsg.ApiVersions, 3}, {kmsg.Metadata, 12}, {kmsg.FindCoordinator, 4},
		{kmsg.Heartbeat, 4}, {kmsg.DescribeGroups, 5}, {kmsg.ListGroups, 4}, {kmsg.DeleteGroups, 2},
		{kmsg.ListOffsets, 7},
	}
	for i := range random {
		kv := served[rng.IntN(len(served))]
		body := make([]byte, rng.IntN(256))
		for j := range body {
			body[j] = byte(rng.Uint32())
		}
		add("random bytes", fmt.Sprintf("#%d after a %s v%d header", i, kv.key.Name(), kv.version), frame(append(hdr(kv.key, kv.version).b, body...)))
		raw := make([]byte, 1+rng.IntN(64))
		for j := range raw {
			raw[j] = byte(rng.Uint32())
		}
		add("random bytes", fmt.Sprintf("#%d unframed", i), raw)
	}
	return in
}

// filerStateSuffix names filerstore's directory of group fences and states, a sibling of its
// Root: {Root}.offsetkit/groups/{group} (see package filerstore). The store writes there too.
const filerStateSuffix = ".offsetkit"

// underRoot reports whether filer path p is root, inside it, or one of its parents (which the
// store creates with it).
func underRoot(p, root string) bool {
	return p == root || strings.HasPrefix(p, root+"/") || strings.HasPrefix(root, p+"/")
}
