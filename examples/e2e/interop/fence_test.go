package interop

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/offsetkit/offsetkit/filerstore/weedtest"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// These tests run the race scenarios of fenced writes through the gateway binary over a real
// filer, holding a write inside the filer by freezing the weed process (SIGSTOP) and letting
// it go (SIGCONT) once the group has changed. That a write is held is observed, not assumed:
// while weed is stopped, the bytes the gateway sends it stay in weed's socket receive queue
// (/proc/net/tcp), so the test waits until that queue grows. No sleep decides an outcome;
// timeouts only bound the waits. Every scenario counts the commits acknowledged (NONE) and
// requires the offset finally stored to be the newest acknowledged one.
//
// On SIGCONT the filer takes the held requests about in the order they arrived, so these tests
// cannot choose whether the held write lands before the fence moves or is refused after it
// (package groupcoord's race tests and filerstore's fence tests force each order); they show
// that over a real filer, whichever way it goes, the newest acknowledged offset stays.

// raceGateway is a gateway process over its own filer, for one race scenario.
type raceGateway struct {
	t    *testing.T
	f    *weedtest.Server
	p    *gatewayProc
	port int // the filer's gRPC port
}

// startRaceGateway starts a filer and a gateway over it with -offsets-timeout timeout and no
// retention sweep during the test.
func startRaceGateway(t *testing.T, timeout time.Duration) *raceGateway {
	t.Helper()
	f := weedtest.Start(t)
	t.Cleanup(func() { _ = f.Resume() }) // a test that failed while weed was stopped
	_, port, err := net.SplitHostPort(f.Addr())
	require.NoError(t, err)
	n, err := strconv.Atoi(port)
	require.NoError(t, err)
	p := startProcess(t, "-store", "filer", "-filer", f.Addr(), "-topics", "t1:3",
		"-offsets-timeout", timeout.String(), "-offsets-retention-check-interval", "1h")
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = f.Resume()
			p.stop(t, os.Interrupt)
		}
	})
	return &raceGateway{t: t, f: f, p: p, port: n}
}

// pause stops weed and returns how many bytes the gateway had sent it that it had not read.
func (g *raceGateway) pause() int {
	g.t.Helper()
	require.NoError(g.t, g.f.Pause())
	n, err := filerBacklog(g.p.cmd.Process.Pid, g.port)
	require.NoError(g.t, err)
	return n
}

func (g *raceGateway) resume() {
	g.t.Helper()
	require.NoError(g.t, g.f.Resume())
}

// waitHeld waits until the stopped weed holds more unread bytes from the gateway than above:
// a request the gateway sent after the pause is held in the filer.
func (g *raceGateway) waitHeld(above int, what string) {
	g.t.Helper()
	waitBacklog(g.t, g.p.cmd.Process.Pid, g.port, above, what)
}

// waitBacklog waits until the stopped filer holds more unread bytes from process pid than
// above (see filerBacklog).
func waitBacklog(t *testing.T, pid, filerPort, above int, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := filerBacklog(pid, filerPort)
		require.NoError(t, err)
		if n > above {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached the stopped filer (%d unread bytes)", what, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// filerBacklog sums the receive queues of the filer's ends of process pid's TCP connections to
// the filer's gRPC port (Linux: /proc/PID/fd and /proc/net/tcp): bytes the process sent that
// the filer has not read yet.
func filerBacklog(pid, filerPort int) (int, error) {
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + fd.Name())
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0, err
	}
	type conn struct {
		local, remote int
		state         string
		rx            int
		inode         string
	}
	port := func(addr string) int {
		_, h, _ := strings.Cut(addr, ":")
		n, _ := strconv.ParseInt(h, 16, 32)
		return int(n)
	}
	var conns []conn
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		_, rxs, _ := strings.Cut(f[4], ":")
		rx, _ := strconv.ParseInt(rxs, 16, 64)
		conns = append(conns, conn{local: port(f[1]), remote: port(f[2]), state: f[3], rx: int(rx), inode: f[9]})
	}
	mine := map[int]bool{} // local ports of the process's connections to the filer
	for _, c := range conns {
		if inodes[c.inode] && c.remote == filerPort {
			mine[c.local] = true
		}
	}
	if len(mine) == 0 {
		return 0, fmt.Errorf("process %d has no connection to the filer's port %d", pid, filerPort)
	}
	sum := 0
	for _, c := range conns {
		if c.local == filerPort && mine[c.remote] && c.state == "01" { // ESTABLISHED
			sum += c.rx
		}
	}
	return sum, nil
}

// answer is a response, or the error that prevented it.
type answer struct {
	resp kmsg.Response
	err  error
}

// sendAsync sends req on a new connection to addr and delivers the answer on the returned
// channel, waiting at most within for it.
func sendAsync(t *testing.T, addr string, req kmsg.Request, within time.Duration) <-chan answer {
	t.Helper()
	r := dialRaw(t, addr)
	frame := r.frame(req)
	ch := make(chan answer, 1)
	go func() {
		ch <- func() answer {
			_ = r.c.SetDeadline(time.Now().Add(within))
			if _, err := r.c.Write(frame); err != nil {
				return answer{err: err}
			}
			var size [4]byte
			if _, err := io.ReadFull(r.c, size[:]); err != nil {
				return answer{err: err}
			}
			buf := make([]byte, binary.BigEndian.Uint32(size[:]))
			if _, err := io.ReadFull(r.c, buf); err != nil {
				return answer{err: err}
			}
			body := buf[4:]
			resp := req.ResponseKind()
			resp.SetVersion(req.GetVersion())
			if resp.IsFlexible() {
				body = body[1:] // no response header tags
			}
			return answer{resp: resp, err: resp.ReadFrom(body)}
		}()
	}()
	return ch
}

// await returns the answer on ch, failing the test if none comes within the bound.
func await[T kmsg.Response](t *testing.T, ch <-chan answer, what string) T {
	t.Helper()
	select {
	case a := <-ch:
		require.NoError(t, a.err, what)
		return a.resp.(T)
	case <-time.After(60 * time.Second):
	}
	t.Fatalf("no answer to %s", what)
	var zero T
	return zero
}

const raceWait = 45 * time.Second // bound of one request's answer in these tests

func joinStatic(group, instance string, topics ...string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 7
	req.Group, req.InstanceID = group, kmsg.StringPtr(instance)
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 60_000, 60_000
	req.ProtocolType = "consumer"
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 3
	meta.Topics = topics
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: meta.AppendTo(nil)}}
	return req
}

func syncLeader(group, instance string, j *kmsg.JoinGroupResponse) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.Generation, req.MemberID, req.InstanceID = group, j.Generation, j.MemberID, kmsg.StringPtr(instance)
	req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), j.Protocol
	req.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: j.MemberID}}
	return req
}

func leaveReq(group, member string) *kmsg.LeaveGroupRequest {
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = 5
	req.Group = group
	req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: member}}
	return req
}

// commitReq commits offset for t1/0 (v8): a member's commit, or with member "" and generation
// -1 a standalone one.
func commitReq(group, member string, instance *string, gen int32, offset int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group, req.MemberID, req.InstanceID, req.Generation = group, member, instance, gen
	req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t1", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: offset, LeaderEpoch: -1}}}}
	return req
}

func commitCode(r *kmsg.OffsetCommitResponse) int16 { return r.Topics[0].Partitions[0].ErrorCode }

// storedT1P0 fetches group's offset of t1/0 through the gateway (-1: none).
func (g *raceGateway) storedT1P0(group string) int64 {
	g.t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 5
	req.Group = group
	req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t1", Partitions: []int32{0}}}
	resp := await[*kmsg.OffsetFetchResponse](g.t, sendAsync(g.t, g.p.addr, req, raceWait), "OffsetFetch")
	require.Zero(g.t, resp.ErrorCode)
	require.Zero(g.t, resp.Topics[0].Partitions[0].ErrorCode)
	return resp.Topics[0].Partitions[0].Offset
}

// acks records the commits sent, in the order they were sent, and which were acknowledged.
type acks struct {
	t       *testing.T
	offsets []int64
	acked   []bool
}

// sent records a commit of offset about to be sent and returns its index for answered.
func (a *acks) sent(offset int64) int {
	a.offsets = append(a.offsets, offset)
	a.acked = append(a.acked, false)
	return len(a.offsets) - 1
}

// answered records the answer to commit i.
func (a *acks) answered(i int, code int16) { a.acked[i] = code == 0 }

// check requires stored to be the newest acknowledged offset (of the commit sent last among
// the acknowledged ones), and logs the counts.
func (a *acks) check(stored int64) {
	a.t.Helper()
	var acked []int64
	for i, ok := range a.acked {
		if ok {
			acked = append(acked, a.offsets[i])
		}
	}
	a.t.Logf("%d commits sent %v, %d acknowledged %v; stored %d", len(a.offsets), a.offsets, len(acked), acked, stored)
	require.NotEmpty(a.t, acked)
	require.Equal(a.t, acked[len(acked)-1], stored, "the stored offset is not the newest acknowledged one")
}

// commit sends a commit of offset for t1/0 and records it; wait for its answer with done.
func (a *acks) commit(addr, group, member string, instance *string, gen int32, offset int64) (done func(what string) int16) {
	i := a.sent(offset)
	ch := sendAsync(a.t, addr, commitReq(group, member, instance, gen, offset), raceWait)
	return func(what string) int16 {
		a.t.Helper()
		c := commitCode(await[*kmsg.OffsetCommitResponse](a.t, ch, what))
		a.answered(i, c)
		return c
	}
}

// commitUntilAcked sends standalone commits of from, from+1, ... to group until one is
// acknowledged; every refusal must be retriable.
func (a *acks) commitUntilAcked(addr, group string, from int64) {
	a.t.Helper()
	for offset := from; ; offset++ {
		require.Less(a.t, offset, from+20, "no commit acknowledged")
		c := a.commit(addr, group, "", nil, -1, offset)("a standalone commit")
		if c == 0 {
			return
		}
		require.True(a.t, kerr.IsRetriable(kerr.ErrorForCode(c)), "%v", kerr.ErrorForCode(c))
	}
}

// A member's commit checked against generation 1 is held in the stopped filer while the group
// rebalances to generation 2 without it; the new member's commit, acknowledged after SIGCONT,
// is what stays. The held commit is either applied before the fence moves (and then
// overwritten) or refused and answered as a commit of a member that left.
func TestFilerRaceCommitVersusRebalance(t *testing.T) {
	g := startRaceGateway(t, 40*time.Second)
	a := &acks{t: t}
	addr := g.p.addr

	ja := await[*kmsg.JoinGroupResponse](t, sendAsync(t, addr, joinStatic("g", "a", "t1"), raceWait), "A's JoinGroup")
	require.Zero(t, ja.ErrorCode)
	sa := await[*kmsg.SyncGroupResponse](t, sendAsync(t, addr, syncLeader("g", "a", ja), raceWait), "A's SyncGroup")
	require.Zero(t, sa.ErrorCode)
	require.Zero(t, a.commit(addr, "g", ja.MemberID, kmsg.StringPtr("a"), ja.Generation, 50)("A's first commit"))

	before := g.pause()
	held := a.commit(addr, "g", ja.MemberID, kmsg.StringPtr("a"), ja.Generation, 100)
	g.waitHeld(before, "A's commit")

	bJoin := sendAsync(t, addr, joinStatic("g", "b", "t1"), raceWait)
	lv := await[*kmsg.LeaveGroupResponse](t, sendAsync(t, addr, leaveReq("g", ja.MemberID), raceWait), "A's LeaveGroup")
	require.Zero(t, lv.ErrorCode)
	jb := await[*kmsg.JoinGroupResponse](t, bJoin, "B's JoinGroup")
	require.Zero(t, jb.ErrorCode)
	require.Greater(t, jb.Generation, ja.Generation)
	bSync := sendAsync(t, addr, syncLeader("g", "b", jb), raceWait) // answered once the fence moved
	g.resume()

	sb := await[*kmsg.SyncGroupResponse](t, bSync, "B's SyncGroup")
	require.Zero(t, sb.ErrorCode)
	c := a.commit(addr, "g", jb.MemberID, kmsg.StringPtr("b"), jb.Generation, 200)("B's commit")
	require.Zero(t, c, "B's commit: %v", kerr.ErrorForCode(c))
	hc := held("A's held commit")
	t.Logf("A's held commit answered %v", kerr.ErrorForCode(hc))
	require.Contains(t, []int16{0, kerr.UnknownMemberID.Code}, hc, "A's held commit: %v", kerr.ErrorForCode(hc))
	a.check(g.storedT1P0("g"))
}

// A standalone commit held in the stopped filer is answered COORDINATOR_NOT_AVAILABLE after
// -offsets-timeout while its write is still in the filer; a newer commit is acknowledged after
// SIGCONT, and the late write never lands over it.
func TestFilerRaceLateWrite(t *testing.T) {
	g := startRaceGateway(t, time.Second)
	a := &acks{t: t}
	addr := g.p.addr
	// The first acceptance moves the group's fence: with a 1 s timeout on a loaded machine it
	// may time out, so commit until one is acknowledged.
	a.commitUntilAcked(addr, "simple", 50)

	before := g.pause()
	late := a.commit(addr, "simple", "", nil, -1, 100)("the held commit")
	require.Equal(t, kerr.CoordinatorNotAvailable.Code, late, "%v", kerr.ErrorForCode(late))
	g.waitHeld(before, "the held commit") // its write was sent and is still in the filer
	g.resume()

	// The first commit after the timeout waits until the fence has moved past the late write.
	a.commitUntilAcked(addr, "simple", 200)
	a.check(g.storedT1P0("simple"))
	// Whenever the filer gets to the late write, it refuses it: a second gateway, started
	// after the first one stopped, reads the same value.
	g.p.stop(t, os.Interrupt)
	g.p = startProcess(t, "-store", "filer", "-filer", g.f.Addr(), "-topics", "t1:3")
	a.check(g.storedT1P0("simple"))
	g.p.stop(t, os.Interrupt)
}

// An OffsetDelete checked against an Empty group is held in the stopped filer while a member
// joins, subscribes to the topic, and, after SIGCONT, syncs and commits: the commit stays. The
// delete is either applied before the fence moves (deleting only the older offset) or refused
// and answered GROUP_SUBSCRIBED_TO_TOPIC.
func TestFilerRaceDeleteVersusJoin(t *testing.T) {
	g := startRaceGateway(t, 40*time.Second)
	a := &acks{t: t}
	addr := g.p.addr

	ja := await[*kmsg.JoinGroupResponse](t, sendAsync(t, addr, joinStatic("g", "a", "t1"), raceWait), "A's JoinGroup")
	require.Zero(t, ja.ErrorCode)
	require.Zero(t, await[*kmsg.SyncGroupResponse](t, sendAsync(t, addr, syncLeader("g", "a", ja), raceWait), "A's SyncGroup").ErrorCode)
	require.Zero(t, a.commit(addr, "g", ja.MemberID, kmsg.StringPtr("a"), ja.Generation, 1)("A's commit"))
	require.Zero(t, await[*kmsg.LeaveGroupResponse](t, sendAsync(t, addr, leaveReq("g", ja.MemberID), raceWait), "A's LeaveGroup").ErrorCode)
	// The Empty state is saved with a fence move; a fetch's acceptance waits for it.
	require.Equal(t, int64(1), g.storedT1P0("g"))

	before := g.pause()
	del := kmsg.NewPtrOffsetDeleteRequest()
	del.Group = "g"
	del.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t1", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	held := sendAsync(t, addr, del, raceWait)
	g.waitHeld(before, "the OffsetDelete")

	jb := await[*kmsg.JoinGroupResponse](t, sendAsync(t, addr, joinStatic("g", "b", "t1"), raceWait), "B's JoinGroup")
	require.Zero(t, jb.ErrorCode)
	bSync := sendAsync(t, addr, syncLeader("g", "b", jb), raceWait)
	g.resume()

	require.Zero(t, await[*kmsg.SyncGroupResponse](t, bSync, "B's SyncGroup").ErrorCode)
	c := a.commit(addr, "g", jb.MemberID, kmsg.StringPtr("b"), jb.Generation, 500)("B's commit")
	require.Zero(t, c, "B's commit: %v", kerr.ErrorForCode(c))
	dr := await[*kmsg.OffsetDeleteResponse](t, held, "the held OffsetDelete")
	require.Zero(t, dr.ErrorCode)
	dc := dr.Topics[0].Partitions[0].ErrorCode
	t.Logf("the held OffsetDelete answered %v", kerr.ErrorForCode(dc))
	require.Contains(t, []int16{0, kerr.GroupSubscribedToTopic.Code}, dc, "%v", kerr.ErrorForCode(dc))
	a.check(g.storedT1P0("g"))
}

// A standalone commit held in the stopped filer is given up on by its client (no answer within
// its own deadline), which then sends a newer commit on a new connection. The gateway keeps
// the newer commit until the older write has ended, so after SIGCONT the newer one is
// acknowledged and stays, whatever order the filer takes held requests in.
func TestFilerRaceUnansweredCommit(t *testing.T) {
	g := startRaceGateway(t, 40*time.Second)
	a := &acks{t: t}
	addr := g.p.addr
	a.commitUntilAcked(addr, "simple", 50)

	before := g.pause()
	i := a.sent(100)
	gaveUp := sendAsync(t, addr, commitReq("simple", "", nil, -1, 100), 500*time.Millisecond)
	g.waitHeld(before, "the older commit")
	ans := <-gaveUp
	require.Error(t, ans.err, "the older commit was answered while the filer was stopped")
	a.answered(i, -1)

	newer := a.commit(addr, "simple", "", nil, -1, 200)
	g.resume()
	c := newer("the newer commit")
	require.Zero(t, c, "the newer commit: %v", kerr.ErrorForCode(c))
	a.check(g.storedT1P0("simple"))
}
