package main

// The fault matrix: what simscan does when something it depends on fails.
// Every row is a case below, measured against the real clamd and spamd of
// internal/testenv, real tmpfs mounts, real rlimits and real signals.
//
// Exit 71 is qmail-smtpd's "451 mail server temporarily rejected message";
// 82/Z is exit 82 with "ZYour email could not be scanned now, please try
// again later" on the error fd, which simscan answers instead of 71 for a
// scanner's failure when qmail-smtpd gave it one and custom_reject=yes. The
// log line is "simscan:[PPID]:STATE:T:DETAIL:IP:FROM:RCPTS" with every ':'
// of DETAIL written '_'; below, DETAIL is shown with its colons. Unless the
// row says otherwise nothing is queued, no work directory is left, and exit
// 0 only ever comes with the message queued.
//
//	case                                        exit   log line STATE: DETAIL
//	clamd killed mid-scan (FILDES, SIGKILL)     71     TEMPFAIL: clamav: clamd unix:SOCK: clamd protocol error:
//	                                                   connection closed without a reply
//	clamd killed mid-stream (INSTREAM, SIGKILL) 71     TEMPFAIL: clamav: clamd ADDR: write tcp ...: connection reset
//	                                                   by peer (or broken pipe)
//	spamd killed mid-check (SIGKILL)            82/Z   TEMPFAIL: spam: spamd ADDR: PROCESS: spamd protocol error:
//	                                                   connection closed early
//	spamd reply cut (FIN) before or in the      71     TEMPFAIL: spam: ... PROCESS: spamd protocol error:
//	  status line or headers                           connection closed early | connection closed in line "SPAMD/1"
//	  after the headers, in the body, one       71     ... spamd protocol error: short body: N of M bytes
//	  byte short
//	  whole reply                               0      CLEAN (-0.00/5.00/5.00), spamd's copy queued
//	spamd reply cut (RST) anywhere              71     ... PROCESS: read tcp ...: connection reset by peer
//	clamd reply cut before, in the subject or   71     TEMPFAIL: clamav: clamd ADDR: clamd protocol error: connection
//	  in the verdict                                   closed without a reply | unexpected reply "stre" | "stream: O"
//	  all but its NUL (FIN)                     0      CLEAN: the answer is whole
//	  all but its NUL (RST)                     71     ... read tcp ...: connection reset by peer
//	clamd garbage: words, "", "PONG", FOUND     82/Z   TEMPFAIL: clamav: clamd ADDR: clamd protocol error: unexpected
//	  without a name, binary                           reply "..."
//	  8 KiB without a NUL                       82/Z   ... clamd protocol error: reply longer than 4096 bytes: "xxx...
//	clamd answers "... ERROR"                   82/Z   ... clamd scan error: Can't allocate memory
//	spamd garbage: HTTP, bad code, no or bad    82/Z   TEMPFAIL: spam: spamd ADDR: PROCESS: spamd protocol error:
//	  Spam header, no or negative                      unexpected response "HTTP/1.1 200 OK" | bad response code in
//	  Content-length, bad header line, 8 KiB           ... | no Spam header | bad Spam header ... | bad or missing
//	  line                                             Content-length "-1" | bad header line ... | line longer than 4096
//	spamd answers 76 (EX_PROTOCOL)              82/Z   ... PROCESS: spamd error: 76 Bad header line: ...
//	daemon accepts and never answers: clamd     82/Z   TEMPFAIL: clamav: clamd ADDR: context deadline exceeded: read
//	  TCP or unix (FILDES), reading or not,            (or write) ...: i/o timeout; spamd the same under "spam: spamd
//	  trickling; spamd the same                        ADDR: PROCESS:". Wall time 2.00-2.07 s with scan_timeout=2s
//	qmail-queue exits N, having read the        N      CLEAN (the verdict, logged before the exec). simscan is
//	  message or not: N = 0 11 31 51-56                qmail-queue by then (same PID), so N is qmail-queue's own
//	  61-66 71-74 81 82 91 and 42, 120
//	qmail-queue missing or not executable       71     TEMPFAIL: qmail-queue: cannot run PROG: no such file or
//	                                                   directory (or permission denied)
//	qmail-queue crashes (SIGSEGV)               signal CLEAN; qmail-smtpd answers "451 qq crashed"
//	work dir on a full tmpfs: message bigger    71     TEMPFAIL: spool: write WORK/D/msg: no space left on device
//	  than it, or it filled first
//	  room for the message, not the envelope    71     TEMPFAIL: spool: write WORK/D/env: no space left on device
//	  no inode left                             71     TEMPFAIL: workdir: mkdir WORK/D: no space left on device
//	  room for the message, not spamd's copy    82/Z   TEMPFAIL: spam: spamd ADDR: PROCESS: writing processed
//	                                                   message: write WORK/D/spamc.msg: no space left on device
//	  room for it, not the Received copy        71     TEMPFAIL: deliver: write WORK/D/deliver: copy_file_range: no
//	                                                   space left on device
//	work dir read-only (tmpfs mounted ro)       71     TEMPFAIL: workdir: mkdir WORK/D: read-only file system
//	work dir missing                            71     TEMPFAIL: workdir: mkdir WORK/missing/D: no such file or directory
//	work dir is a file                          71     TEMPFAIL: workdir: mkdir WORK/fill/D: not a directory
//	RLIMIT_NOFILE (soft and hard) 0-7           71     TEMPFAIL: descriptors: 3 free file descriptors needed: too
//	                                                   many open files
//	  8                                         71     TEMPFAIL: spool: open WORK/D/env: too many open files
//	  9                                         71     TEMPFAIL: rules: open CONTROL/simcontrol.cdb: too many open files
//	  10 and up, no scanner                     0      CLEAN
//	  10, 11 with clamd, spamd, received=yes    71     TEMPFAIL: spam: spamd: no daemon available: ADDR: dial tcp
//	                                                   ADDR: socket: too many open files
//	  12 and up with clamd, spamd, received     0      CLEAN (-0.00/5.00/5.00)
//	SIGTERM while reading the message or the    71     TEMPFAIL: signal terminated
//	  envelope, or waiting on clamd or spamd
//	SIGINT, HUP, QUIT, ALRM, USR1, USR2         71     TEMPFAIL: signal interrupt (hangup, quit, alarm clock, user
//	                                                   defined signal 1, user defined signal 2)
//	SIGTERM after the exec                      signal CLEAN only: qmail-queue dies of it as qmail-queue(8) does
//	                                                   (the default action); qmail-smtpd answers "451 qq crashed"
//	SIGKILL while waiting on a daemon           signal none; the work directory is left with msg and env
//	  then simscanctl cleanup                   0      younger than stale_age: kept; older: "removed WORK/D"
//	  then the next simscan                     0      "simscan: removed stale work directory WORK/D", CLEAN
//
// The open-files limits count what is open when simscan starts: fds 0, 1
// and 2 and, on this cgroup v1 host, two files the Go runtime keeps open to
// follow the CPU quota. They differ elsewhere, so the case finds the least
// limit that delivers as it runs and checks the shape: 71 with a log line
// below it, the message queued at and above it, no work directory left.
//
// "Killed mid-reply" is a proxy in front of the real daemon that passes on
// only part of its real reply and then closes the connection as the kernel
// closes a killed process's socket: with a FIN when all it was sent had
// been read, with an RST when not. A real kill cannot choose the byte (the
// daemons write a reply at once); the proxy can, at every point of it.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gosimscan/simscan/internal/testenv"
	"github.com/gosimscan/simscan/qmail"
)

// bigMessage is a message of about size bytes that keeps a daemon busy.
func bigMessage(size int64) io.Reader {
	return io.MultiReader(strings.NewReader("Subject: big\n\n"), io.LimitReader(&pattern{}, size))
}

func TestFaultClamdKilledMidScan(t *testing.T) {
	for _, mode := range []string{"FILDES", "INSTREAM"} {
		t.Run(mode, func(t *testing.T) {
			c := testenv.StartClamd(t)
			addr, busy := "unix:"+c.Unix, ""
			s := newSetup(t, "")
			if mode == "FILDES" {
				// clamd holds the passed descriptor of msg while it scans.
				busy = s.work
			} else {
				addr = c.TCP
				// clamd writes the stream to a file of its own as it
				// arrives, and scans it at the end.
				busy = filepath.Join(c.Dir, "tmp")
			}
			s.writeConf("clamd=" + addr + "\n")
			p := s.launch(launch{msg: bigMessage(40 << 20), env: env1})
			waitUntil(t, "clamd works on the message", func() bool { return holdsFile(c.PID, busy) })
			if err := syscall.Kill(c.PID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			o := p.wait()
			if n := c.Scans(); n != 0 {
				t.Fatalf("clamd finished %d scans before it was killed: make the message bigger", n)
			}
			s.assertTempFail(o, false, true, `clamav_ clamd (unix_)?\S+_ .*(connection closed without a reply|connection reset by peer|broken pipe)`)
		})
	}
}

func TestFaultSpamdKilledMidScan(t *testing.T) {
	sd := testenv.StartSpamd(t)
	s := newSetup(t, "spamd="+sd.TCP+"\n")
	// A message spamd takes a while over, below spam_size_limit.
	msg := testenv.CleanMessage + strings.Repeat("Friday lunch is at noon, the usual place, bring a friend.\n", 3500)
	before := sd.Checks()
	p := s.launch(launch{msg: strings.NewReader(msg), env: env1, errFD4: true})
	waitUntil(t, "spamd checks the message", func() bool { return sd.Checks() > before })
	// The parent and its children: the whole process group.
	if err := syscall.Kill(-sd.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	o := p.wait()
	if log, _ := os.ReadFile(sd.Log); bytes.Contains(log, []byte("spamd: result: ")) {
		t.Fatalf("spamd answered before it was killed: make the message slower to check\n%s", log)
	}
	s.assertTempFail(o, true, true, `spam_ spamd \S+_ PROCESS_ .*(connection closed early|connection reset by peer|broken pipe)`)
}

func TestFaultDaemonKilledMidReply(t *testing.T) {
	sd := testenv.StartSpamd(t)
	c := testenv.StartClamd(t)
	type cut struct {
		name   string
		at     func(reply []byte) int
		detail string // empty: the cut reply is a whole answer and the message is delivered
		onRST  string // detail when the connection ends with an RST, if not detail
	}
	statusEnd := func(r []byte) int { return bytes.Index(r, []byte("\r\n")) + 2 }
	headEnd := func(r []byte) int { return bytes.Index(r, []byte("\r\n\r\n")) + 4 }
	spamCuts := []cut{
		{"before the reply", func([]byte) int { return 0 }, `connection closed early|connection reset by peer`, ""},
		{"in the status line", func([]byte) int { return 7 }, `connection closed in line|connection reset by peer`, ""},
		{"after the status line", statusEnd, `connection closed early|connection reset by peer`, ""},
		{"in the headers", func(r []byte) int { return statusEnd(r) + 9 }, `connection closed in line|connection reset by peer`, ""},
		{"after the headers", headEnd, `short body_ 0 of \d+ bytes|connection reset by peer`, ""},
		{"in the body", func(r []byte) int { return headEnd(r) + (len(r)-headEnd(r))/2 }, `short body_ \d+ of \d+ bytes|connection reset by peer`, ""},
		{"one byte short", func(r []byte) int { return len(r) - 1 }, `short body_ \d+ of \d+ bytes|connection reset by peer`, ""},
		{"whole reply", func(r []byte) int { return len(r) }, "", ""},
	}
	clamCuts := []cut{
		{"before the reply", func([]byte) int { return 0 }, `connection closed without a reply|connection reset by peer`, ""},
		{"in the subject", func([]byte) int { return 4 }, `unexpected reply "stre"|connection reset by peer`, ""},
		{"in the verdict", func(r []byte) int { return len(r) - 2 }, `unexpected reply "stream_ O"|connection reset by peer`, ""},
		// clamd's terminator is all that is missing: the answer is whole.
		// With an RST the read that would find the end finds the reset.
		{"without the terminator", func(r []byte) int { return len(r) - 1 }, "", `connection reset by peer`},
		{"whole reply", func(r []byte) int { return len(r) }, "", ""},
	}
	for _, daemon := range []struct {
		name, key, upstream, scanner string
		read                         func(*bufio.Reader) ([]byte, error)
		cuts                         []cut
	}{
		{"spamd", "spamd", sd.TCP, `spam_ spamd \S+_ PROCESS_ `, readSpamdRequest, spamCuts},
		{"clamd", "clamd", c.TCP, `clamav_ clamd \S+_ `, readClamdRequestBytes, clamCuts},
	} {
		for _, reset := range []bool{false, true} {
			end := "FIN"
			if reset {
				end = "RST"
			}
			for _, k := range daemon.cuts {
				t.Run(daemon.name+"/"+k.name+"/"+end, func(t *testing.T) {
					addr, replies := cutProxy(t, daemon.upstream, daemon.read, k.at, reset)
					s := newSetup(t, daemon.key+"="+addr+"\n")
					o := s.launch(launch{msg: strings.NewReader(testenv.CleanMessage), env: env1}).wait()
					reply := <-replies
					detail := k.detail
					if reset && k.onRST != "" {
						detail = k.onRST
					}
					if detail != "" {
						s.assertTempFail(o, false, true, daemon.scanner+`.*(`+detail+`)`)
						return
					}
					if o.code != 0 || len(o.records) != 1 {
						t.Fatalf("exit %d, %d deliveries\n%s", o.code, len(o.records), o.stderr)
					}
					if daemon.key == "spamd" && !bytes.HasSuffix(reply, o.records[0].Msg) {
						t.Errorf("delivered message is not spamd's processed copy:\n%s", o.records[0].Msg)
					}
					if left := s.workDirs(); len(left) != 0 {
						t.Errorf("work directories left behind: %v", left)
					}
				})
			}
		}
	}
}

func TestFaultDaemonGarbage(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 8<<10)
	tests := []struct {
		name   string
		key    string
		read   func(*bufio.Reader) error
		reply  []byte
		detail string
	}{
		{"clamd: words", "clamd", clamdRequest, []byte("hello, world\x00"), `unexpected reply "hello, world"`},
		{"clamd: empty reply", "clamd", clamdRequest, []byte("\x00"), `unexpected reply ""`},
		{"clamd: FOUND without a name", "clamd", clamdRequest, []byte("stream:  FOUND\x00"), `unexpected reply "stream_  FOUND"`},
		{"clamd: PONG", "clamd", clamdRequest, []byte("PONG\x00"), `unexpected reply "PONG"`},
		{"clamd: 8 KiB without a terminator", "clamd", clamdRequest, long, `reply longer than 4096 bytes`},
		{"clamd: binary", "clamd", clamdRequest, []byte("\xff\xfe\x01\x02: \x80\x00"), `unexpected reply`},
		{"clamd: ERROR", "clamd", clamdRequest, []byte("stream: Can't allocate memory ERROR\x00"), `clamd scan error_ Can't allocate memory`},
		{"spamd: HTTP", "spamd", spamdRequest, []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), `unexpected response "HTTP/1.1 200 OK"`},
		{"spamd: bad code", "spamd", spamdRequest, []byte("SPAMD/1.5 x EX_OK\r\n\r\n"), `bad response code`},
		{"spamd: EX_PROTOCOL", "spamd", spamdRequest, []byte("SPAMD/1.5 76 Bad header line: (Content-Length mismatch)\r\n\r\n"), `spamd error_ 76 Bad header line`},
		{"spamd: no Spam header", "spamd", spamdRequest, []byte("SPAMD/1.5 0 EX_OK\r\nContent-length: 3\r\n\r\nabc"), `no Spam header`},
		{"spamd: bad Spam header", "spamd", spamdRequest, []byte("SPAMD/1.5 0 EX_OK\r\nSpam: Maybe ; 1 / 5\r\nContent-length: 3\r\n\r\nabc"), `bad Spam header "Maybe ; 1 / 5"`},
		{"spamd: no Content-length", "spamd", spamdRequest, []byte("SPAMD/1.5 0 EX_OK\r\nSpam: False ; 0.0 / 5.0\r\n\r\nabc"), `bad or missing Content-length ""`},
		{"spamd: negative Content-length", "spamd", spamdRequest, []byte("SPAMD/1.5 0 EX_OK\r\nSpam: False ; 0.0 / 5.0\r\nContent-length: -1\r\n\r\n"), `bad or missing Content-length "-1"`},
		{"spamd: bad header line", "spamd", spamdRequest, []byte("SPAMD/1.5 0 EX_OK\r\nno colon here\r\n\r\n"), `bad header line "no colon here"`},
		{"spamd: 8 KiB line", "spamd", spamdRequest, long, `line longer than 4096 bytes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := scripted(t, tt.read, tt.reply)
			s := newSetup(t, tt.key+"="+addr+"\n")
			o := s.launch(launch{msg: strings.NewReader(testenv.CleanMessage), env: env1, errFD4: true}).wait()
			scanner := `clamav_ clamd `
			if tt.key == "spamd" {
				scanner = `spam_ spamd `
			}
			s.assertTempFail(o, true, true, scanner+`.*`+regexp.QuoteMeta(strings.ReplaceAll(tt.detail, ":", "_")))
		})
	}
}

func TestFaultDaemonNeverAnswers(t *testing.T) {
	const timeout = 2 * time.Second
	// trickle reads the request, then sends the start of an answer one byte
	// every 100 ms and never its end.
	trickle := func(t *testing.T, read func(*bufio.Reader) error, head string) string {
		return fakeDaemon(t, "tcp", func(c net.Conn) {
			if read(bufio.NewReader(c)) != nil {
				return
			}
			if _, err := io.WriteString(c, head); err != nil {
				return
			}
			for {
				time.Sleep(100 * time.Millisecond)
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		})
	}
	small := func() io.Reader { return strings.NewReader(testenv.CleanMessage) }
	// Bigger than any socket buffer: a daemon that reads nothing blocks the
	// writes.
	large := func() io.Reader { return bigMessage(16 << 20) }
	type daemon struct {
		name string
		addr func(t *testing.T) string
		key  string
		msg  func() io.Reader
	}
	silentAddr := func(network string, read bool) func(t *testing.T) string {
		return func(t *testing.T) string { a, _ := silentDaemon(t, network, read); return a }
	}
	tests := []daemon{
		{"clamd TCP, reads the stream, never answers", silentAddr("tcp", true), "clamd", small},
		{"clamd TCP, reads nothing", silentAddr("tcp", false), "clamd", large},
		{"clamd unix FILDES, never answers", silentAddr("unix", false), "clamd", small},
		{"clamd trickles an answer", func(t *testing.T) string { return trickle(t, clamdRequest, "stream: ") }, "clamd", small},
		{"spamd reads the message, never answers", silentAddr("tcp", true), "spamd", small},
		{"spamd reads nothing", silentAddr("tcp", false), "spamd", large},
		{"spamd trickles the body", func(t *testing.T) string {
			return trickle(t, spamdRequest, "SPAMD/1.5 0 EX_OK\r\nSpam: False ; 0.0 / 5.0\r\nContent-length: 100000\r\n\r\n")
		}, "spamd", small},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSetup(t, fmt.Sprintf("%s=%s\nscan_timeout=%v\nspam_size_limit=0\n", tt.key, tt.addr(t), timeout))
			o := s.launch(launch{msg: tt.msg(), env: env1, errFD4: true}).wait()
			scanner := `clamav_ clamd `
			if tt.key == "spamd" {
				scanner = `spam_ spamd `
			}
			s.assertTempFail(o, true, true, scanner+`.*(context deadline exceeded|i/o timeout)`)
			// The one timing assertion: scan_timeout bounds the wait.
			if o.took < timeout || o.took > timeout+time.Second {
				t.Errorf("took %v with scan_timeout=%v, want between %v and %v", o.took, timeout, timeout, timeout+time.Second)
			}
		})
	}
}

// The exit codes of qmail-queue(8), 82 of the custom-error patch (a filter
// in qmail-queue's place may use it), and two that mean nothing.
var qmailQueueCodes = []int{0, 11, 31, 51, 52, 53, 54, 55, 56, 61, 62, 63, 64, 65, 66, 71, 72, 73, 74, 81, 82, 91, 42, 120}

func TestFaultQmailQueueExit(t *testing.T) {
	for _, noRead := range []bool{false, true} {
		for _, code := range qmailQueueCodes {
			name := fmt.Sprintf("exit %d", code)
			if noRead {
				name += " without reading"
			}
			t.Run(name, func(t *testing.T) {
				s := newSetup(t, "")
				var environ []string
				if noRead {
					environ = []string{"RECORDER_NOREAD=1"}
				}
				o := s.launch(launch{msg: strings.NewReader(cleanMsg), env: env1, environ: environ, recExit: code, errFD4: true}).wait()
				if o.code != code || o.signal != 0 {
					t.Errorf("exit %d (signal %v), want qmail-queue's %d\n%s", o.code, o.signal, code, o.stderr)
				}
				if o.err4 != "" {
					t.Errorf("simscan wrote %q to fd 4 for qmail-queue's exit", o.err4)
				}
				if len(o.records) != 1 {
					t.Fatalf("qmail-queue ran %d times", len(o.records))
				}
				rec := o.records[0]
				// The record is named after qmail-queue's PID: simscan's own.
				// The process qmail-smtpd waits for is qmail-queue, so its
				// exit code cannot be changed on the way.
				if _, pid, _ := strings.Cut(rec.ID, "."); pid != fmt.Sprint(o.pid) {
					t.Errorf("qmail-queue ran as PID %s, simscan was %d: not exec'd", pid, o.pid)
				}
				if rec.NoRead != noRead {
					t.Errorf("qmail-queue read the message: %v", !rec.NoRead)
				}
				if !noRead && (string(rec.Msg) != cleanMsg || string(rec.Env) != env1) {
					t.Errorf("qmail-queue got %q and %q", rec.Msg, rec.Env)
				}
				if !strings.Contains(logLine(t, o.stderr), ":CLEAN:") {
					t.Errorf("log line %q", logLine(t, o.stderr))
				}
				if left := s.workDirs(); len(left) != 0 {
					t.Errorf("work directories left behind: %v", left)
				}
			})
		}
	}
}

// standIn writes an executable shell script to run as qmail-queue.
func standIn(t *testing.T, script string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "qmail-queue")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFaultQmailQueueCannotRun(t *testing.T) {
	notExec := filepath.Join(t.TempDir(), "qmail-queue")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, prog, cause string }{
		{"missing", "/nonexistent/qmail-queue", "no such file or directory"},
		{"not executable", notExec, "permission denied"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t, "")
			s.writeConfRaw("workdir=" + s.work + "\nqmailqueue=" + tt.prog + "\n")
			o := s.launch(launch{msg: strings.NewReader(cleanMsg), env: env1, errFD4: true}).wait()
			t.Logf("exit %d: %s", o.code, o.stderr)
			if o.code != int(qmail.TempFail) {
				t.Errorf("exit %d\n%s", o.code, o.stderr)
			}
			// The one log line says why, not CLEAN.
			if line := logLine(t, o.stderr); !logMatch(line, "TEMPFAIL:qmail-queue_ cannot run "+tt.prog) || !strings.Contains(line, tt.cause) {
				t.Errorf("log line %q", line)
			}
			if left := s.workDirs(); len(left) != 0 {
				t.Errorf("work directories left behind: %v", left)
			}
		})
	}
}

func TestFaultQmailQueueCrashes(t *testing.T) {
	s := newSetup(t, "")
	s.writeConfRaw("workdir=" + s.work + "\nqmailqueue=" + standIn(t, "cat >/dev/null\nkill -SEGV $$\n") + "\n")
	o := s.launch(launch{msg: strings.NewReader(cleanMsg), env: env1}).wait()
	// qmail-smtpd answers a crashed qmail-queue with "451 qq crashed".
	if o.signal != syscall.SIGSEGV || !strings.Contains(logLine(t, o.stderr), ":CLEAN:") {
		t.Errorf("exit %d, signal %v; want qmail-queue's SIGSEGV after a CLEAN log line\n%s", o.code, o.signal, o.stderr)
	}
	if left := s.workDirs(); len(left) != 0 {
		t.Errorf("work directories left behind: %v", left)
	}
}

func TestFaultWorkDir(t *testing.T) {
	sd := testenv.StartSpamd(t)
	const page = 4096 // tmpfs counts whole pages
	// A message of eight pages, whose copies do not fit in a filesystem of
	// twelve with the message and envelope in it.
	eight := testenv.CleanMessage + strings.Repeat("x", 8*page-len(testenv.CleanMessage)-1) + "\n"
	tests := []struct {
		name    string
		mount   string // tmpfs options; "" for no mount
		ro      bool
		fill    int64 // bytes to fill the tmpfs with first; -1 for all of it
		conf    string
		workdir string // relative to the setup's work directory, if not it
		msg     string
		scanErr bool // the failure is a scanner's, with its own text
		detail  string
	}{
		{name: "message bigger than the filesystem", mount: "size=64k", msg: strings.Repeat(cleanMsg, 2000),
			detail: `spool_ write \S+/msg_ no space left on device`},
		{name: "filesystem full", mount: "size=64k", fill: -1, msg: cleanMsg,
			detail: `spool_ write \S+/msg_ no space left on device`},
		{name: "room for the message, not the envelope", mount: "size=64k", fill: 15 * page, msg: cleanMsg,
			detail: `spool_ write \S+/env_ no space left on device`},
		{name: "no inode left", mount: "size=64k,nr_inodes=2", fill: 1, msg: cleanMsg,
			detail: `workdir_ mkdir \S+_ no space left on device`},
		{name: "room for the message, not spamd's copy", mount: "size=48k", conf: "spamd=" + sd.TCP + "\n", msg: eight, scanErr: true,
			detail: `spam_ spamd \S+_ PROCESS_ writing processed message_ write \S+/spamc.msg_ no space left on device`},
		{name: "room for the message, not the copy with a Received header", mount: "size=48k", conf: "received=yes\n", msg: eight,
			detail: `deliver_ write \S+/deliver_ (copy_file_range_ )?no space left on device`},
		{name: "read-only", mount: "size=64k", ro: true, msg: cleanMsg,
			detail: `workdir_ mkdir \S+_ read-only file system`},
		{name: "missing", workdir: "missing", msg: cleanMsg,
			detail: `workdir_ mkdir \S+/missing/\S+_ no such file or directory`},
		{name: "not a directory", workdir: fillName, fill: 1, msg: cleanMsg,
			detail: `workdir_ mkdir \S+/` + fillName + `/\S+_ not a directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t, "")
			if tt.mount != "" {
				s.mountWork(tt.mount, tt.ro)
			}
			if tt.fill != 0 {
				s.fill(tt.fill)
			}
			work := s.work
			if tt.workdir != "" {
				work = filepath.Join(s.work, tt.workdir)
			}
			s.writeConfRaw("workdir=" + work + "\nqmailqueue=" + s.recorder + "\n" + tt.conf)
			o := s.launch(launch{msg: strings.NewReader(tt.msg), env: env1, errFD4: true}).wait()
			s.assertTempFail(o, true, tt.scanErr, tt.detail)
		})
	}
}

func TestFaultOpenFilesLimit(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatalf("prlimit (util-linux) is needed to lower a child's RLIMIT_NOFILE: %v", err)
	}
	bin := staticSimscan(t)
	c := testenv.StartClamd(t)
	sd := testenv.StartSpamd(t)
	for _, cfg := range []struct {
		name string
		conf string
	}{
		{"no scanner", ""},
		{"clamd, spamd and a Received header", "clamd=unix:" + c.Unix + "\nspamd=" + sd.TCP + "\nreceived=yes\n"},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			s := newSetup(t, cfg.conf)
			least := -1
			for n := 0; n <= 24; n++ {
				// Soft and hard: the Go runtime raises the soft limit to the
				// hard one when it starts.
				o := s.launch(launch{bin: bin, via: []string{prlimit, fmt.Sprintf("--nofile=%d:%d", n, n), "--"}, msg: strings.NewReader(cleanMsg), env: env1}).wait()
				line := ""
				if i := strings.Index(o.stderr, "simscan:["); i >= 0 {
					line, _, _ = strings.Cut(o.stderr[i:], "\n")
				}
				t.Logf("limit %d: exit %d: %s", n, o.code, line)
				switch {
				case o.code == 0:
					if len(o.records) != 1 || !strings.Contains(string(o.records[0].Msg), "Just a note.") || string(o.records[0].Env) != env1 {
						t.Errorf("limit %d: exit 0 without the message queued: %d records\n%s", n, len(o.records), o.stderr)
					}
					if least < 0 {
						least = n
					}
				case o.code == int(qmail.TempFail) && least < 0:
					if len(o.records) != 0 || !strings.HasPrefix(line, "simscan:[") || !strings.Contains(line, ":TEMPFAIL:") {
						t.Errorf("limit %d: exit 71 with %d deliveries\n%s", n, len(o.records), o.stderr)
					}
				default:
					t.Errorf("limit %d: exit %d (signal %v)\n%s", n, o.code, o.signal, o.stderr)
				}
				if left := s.workDirs(); len(left) != 0 {
					t.Errorf("limit %d: work directories left behind: %v\n%s", n, left, o.stderr)
					for _, d := range left {
						os.RemoveAll(d)
					}
				}
				s.clearRecords()
			}
			if least < 0 {
				t.Fatalf("no message delivered with up to 24 open files")
			}
			t.Logf("the least open-files limit that delivers: %d", least)
		})
	}
}

func TestFaultSignals(t *testing.T) {
	tests := []struct {
		name  string
		conf  func(t *testing.T) (conf string, busy <-chan struct{})
		l     launch
		phase func(s *setup, busy <-chan struct{}) bool // true once simscan waits in the phase
	}{
		{"while reading the message", nil,
			launch{msg: strings.NewReader("Subject: never ends\n\n"), holdMsg: true},
			func(s *setup, _ <-chan struct{}) bool { return s.workFile("msg") }},
		{"while reading the envelope", nil,
			launch{msg: strings.NewReader(cleanMsg), env: "Falice@example.com\x00", holdEnv: true},
			func(s *setup, _ <-chan struct{}) bool { return s.workFile("env") }},
		{"while waiting on clamd", func(t *testing.T) (string, <-chan struct{}) {
			addr, accepted := silentDaemon(t, "unix", false)
			return "clamd=" + addr + "\n", accepted
		}, launch{msg: strings.NewReader(cleanMsg), env: env1}, accepted},
		{"while waiting on spamd", func(t *testing.T) (string, <-chan struct{}) {
			addr, accepted := silentDaemon(t, "tcp", true)
			return "spamd=" + addr + "\n", accepted
		}, launch{msg: strings.NewReader(cleanMsg), env: env1}, accepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf, busy := "", (<-chan struct{})(nil)
			if tt.conf != nil {
				conf, busy = tt.conf(t)
			}
			s := newSetup(t, conf)
			p := s.launch(tt.l)
			waitUntil(t, "simscan is "+tt.name, func() bool { return tt.phase(s, busy) })
			p.signal(syscall.SIGTERM)
			o := p.wait()
			s.assertTempFail(o, false, false, `signal terminated:`)
		})
	}

	// Every signal simscan catches, in one phase.
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGALRM, syscall.SIGUSR1, syscall.SIGUSR2} {
		t.Run(sig.String()+" while reading the envelope", func(t *testing.T) {
			s := newSetup(t, "")
			p := s.launch(launch{msg: strings.NewReader(cleanMsg), env: "Falice@example.com\x00", holdEnv: true})
			waitUntil(t, "simscan reads the envelope", func() bool { return s.workFile("env") })
			p.signal(sig)
			s.assertTempFail(p.wait(), false, false, `signal `+sig.String()+`:`)
		})
	}

	// After the exec the process is qmail-queue: SIGTERM has qmail-queue's
	// effect, which for qmail-queue(8) is the default, death. qmail-smtpd
	// answers "451 qq crashed". simscan's handler is gone with simscan.
	t.Run("after the exec", func(t *testing.T) {
		s := newSetup(t, "")
		pidFile := filepath.Join(t.TempDir(), "pid")
		qq := standIn(t, "cat >/dev/null\necho $$ >"+pidFile+".tmp\nmv "+pidFile+".tmp "+pidFile+"\nexec sleep 60\n")
		s.writeConfRaw("workdir=" + s.work + "\nqmailqueue=" + qq + "\n")
		p := s.launch(launch{msg: strings.NewReader(cleanMsg), env: env1})
		var pid []byte
		waitUntil(t, "qmail-queue runs", func() bool { pid, _ = os.ReadFile(pidFile); return len(pid) > 0 })
		if got := strings.TrimSpace(string(pid)); got != fmt.Sprint(p.cmd.Process.Pid) {
			t.Fatalf("qmail-queue runs as PID %s, simscan was %d: not exec'd", got, p.cmd.Process.Pid)
		}
		p.signal(syscall.SIGTERM)
		o := p.wait()
		if o.signal != syscall.SIGTERM {
			t.Errorf("exit %d, signal %v; want death by SIGTERM\n%s", o.code, o.signal, o.stderr)
		}
		if line := logLine(t, o.stderr); !strings.Contains(line, ":CLEAN:") || strings.Count(o.stderr, "simscan:[") != 1 {
			t.Errorf("want the one CLEAN log line simscan wrote before the exec:\n%s", o.stderr)
		}
		if left := s.workDirs(); len(left) != 0 {
			t.Errorf("work directories left behind: %v", left)
		}
	})
}

func accepted(_ *setup, ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestFaultSIGKILL(t *testing.T) {
	s := newSetup(t, "")
	addr, busy := silentDaemon(t, "tcp", true)
	// kill starts simscan with a daemon that never answers, kills it with
	// SIGKILL while it waits, and returns the work directory it left.
	kill := func() string {
		t.Helper()
		s.writeConf("clamd=" + addr + "\nstale_age=1s\n")
		p := s.launch(launch{msg: strings.NewReader(cleanMsg), env: env1})
		<-busy
		p.signal(syscall.SIGKILL)
		o := p.wait()
		if o.signal != syscall.SIGKILL || strings.Contains(o.stderr, "simscan:[") || len(o.records) != 0 {
			t.Fatalf("exit %d, signal %v, %d deliveries\n%s", o.code, o.signal, len(o.records), o.stderr)
		}
		left := s.workDirs()
		if len(left) != 1 {
			t.Fatalf("work directories: %v, want the one of the killed simscan", left)
		}
		if b, err := os.ReadFile(filepath.Join(left[0], "msg")); err != nil || string(b) != cleanMsg {
			t.Fatalf("left work directory holds %q, %v", b, err)
		}
		return left[0]
	}
	// stale waits until dir is older than stale_age=1s.
	stale := func(dir string) {
		t.Helper()
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(fi.ModTime().Add(1100 * time.Millisecond)))
	}

	t.Run("simscanctl cleanup", func(t *testing.T) {
		left := kill()
		cleanup := func(staleAge string) string {
			t.Helper()
			s.writeConf("stale_age=" + staleAge + "\n")
			ctl := exec.Command(simscanctl(t), "cleanup")
			ctl.Env = []string{"SIMSCAN_CONTROLDIR=" + s.control}
			out, err := ctl.CombinedOutput()
			if err != nil {
				t.Fatalf("simscanctl cleanup: %v\n%s", err, out)
			}
			return string(out)
		}
		// Younger than stale_age: left alone, as a running simscan's is.
		if out := cleanup("1h"); !strings.Contains(out, "0 stale work directories removed") {
			t.Fatalf("simscanctl cleanup with stale_age=1h:\n%s", out)
		}
		if _, err := os.Stat(left); err != nil {
			t.Fatalf("a work directory younger than stale_age was removed: %v", err)
		}
		stale(left)
		if out := cleanup("1s"); !strings.Contains(out, "removed "+left+"\n") {
			t.Fatalf("simscanctl cleanup with stale_age=1s:\n%s", out)
		}
		if left := s.workDirs(); len(left) != 0 {
			t.Errorf("work directories left: %v", left)
		}
	})
	t.Run("the next simscan", func(t *testing.T) {
		left := kill()
		stale(left)
		s.writeConf("stale_age=1s\n")
		o := s.launch(launch{msg: strings.NewReader(cleanMsg), env: env1}).wait()
		if o.code != 0 || len(o.records) != 1 {
			t.Fatalf("exit %d, %d deliveries\n%s", o.code, len(o.records), o.stderr)
		}
		if !strings.Contains(o.stderr, "simscan: removed stale work directory "+left+"\n") {
			t.Errorf("no log of the stale directory removed:\n%s", o.stderr)
		}
		if left := s.workDirs(); len(left) != 0 {
			t.Errorf("work directories left: %v", left)
		}
	})
}
