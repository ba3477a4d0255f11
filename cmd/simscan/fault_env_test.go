package main

// The means of the fault matrix in fault_test.go: a way to start simscan
// with more control than setup.run gives, fake daemons, a proxy that cuts a
// real daemon's reply short, and mounts for the work directory.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gosimscan/simscan/internal/testenv"
	"github.com/gosimscan/simscan/qmail"
)

// launch is how a fault case runs simscan: as setup.run does, and also
// through another program (prlimit), with fd 0 or fd 1 left open so that
// simscan waits in that phase, and with the whole wait status kept.
type launch struct {
	bin     string    // the simscan binary; simscanBin if empty
	via     []string  // argv before the binary, e.g. prlimit and its options
	msg     io.Reader // written to fd 0
	env     string    // written to fd 1 once fd 0 is closed
	holdMsg bool      // never close fd 0 (and so never write fd 1)
	holdEnv bool      // write env but never close fd 1
	environ []string  // beyond SIMSCAN_CONTROLDIR and RECORDER_*
	errFD4  bool      // a pipe at fd 4, as qmail-smtpd with the custom-error patch has
	recExit int       // RECORDER_EXIT
}

// proc is a simscan started by setup.launch.
type proc struct {
	s       *setup
	cmd     *exec.Cmd
	start   time.Time
	stderr  *lockedBuffer
	e4r     *os.File
	msgW    *os.File
	envW    *os.File
	written chan struct{} // closed when the writer of fd 0 and fd 1 is done
}

// outcome is how a run ended, as qmail-smtpd sees it and as it was logged.
type outcome struct {
	code    int            // exit code, -1 when a signal ended the process
	signal  syscall.Signal // the signal that ended it, 0 if it exited
	stderr  string
	err4    string // text on fd 4
	records []testenv.Recorded
	pid     int
	took    time.Duration // from start to exit
}

func (s *setup) launch(l launch) *proc {
	s.t.Helper()
	bin := l.bin
	if bin == "" {
		bin = simscanBin
	}
	argv := append(append([]string{}, l.via...), bin)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{
		"SIMSCAN_CONTROLDIR=" + s.control,
		"RECORDER_DIR=" + s.recorded,
		fmt.Sprintf("RECORDER_EXIT=%d", l.recExit),
		"PATH=/usr/bin:/bin",
	}, l.environ...)
	msgR, msgW, err := os.Pipe()
	if err != nil {
		s.t.Fatal(err)
	}
	envR, envW, err := os.Pipe()
	if err != nil {
		s.t.Fatal(err)
	}
	p := &proc{s: s, cmd: cmd, stderr: &lockedBuffer{}, msgW: msgW, envW: envW, written: make(chan struct{})}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = msgR, envR, p.stderr
	var e4w *os.File
	if l.errFD4 {
		if p.e4r, e4w, err = os.Pipe(); err != nil {
			s.t.Fatal(err)
		}
		cmd.ExtraFiles = []*os.File{nil, e4w}
	}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	msgR.Close()
	envR.Close()
	if e4w != nil {
		e4w.Close()
	}
	// qmail-smtpd writes the message, closes it, then writes the envelope.
	go func() {
		defer close(p.written)
		if l.msg != nil {
			io.Copy(msgW, l.msg)
		}
		if l.holdMsg {
			return
		}
		msgW.Close()
		io.WriteString(envW, l.env)
		if !l.holdEnv {
			envW.Close()
		}
	}()
	return p
}

// wait waits for the process and collects what it left.
func (p *proc) wait() outcome {
	p.s.t.Helper()
	err := p.cmd.Wait()
	o := outcome{took: time.Since(p.start), pid: p.cmd.Process.Pid}
	p.msgW.Close()
	p.envW.Close()
	<-p.written
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		o.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			o.signal = ws.Signal()
		}
	case err != nil:
		p.s.t.Fatal(err)
	}
	o.stderr = p.stderr.String()
	if p.e4r != nil {
		b, _ := io.ReadAll(p.e4r)
		p.e4r.Close()
		o.err4 = string(b)
	}
	o.records = testenv.ReadRecorded(p.s.t, p.s.recorded)
	return o
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.s.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.s.t.Fatalf("signal %v: %v", sig, err)
	}
}

// waitUntil polls cond until it holds, and fails the test after 20 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// workFile reports whether a work directory under s.work holds a file of
// that name: the phase simscan is in shows in what it has created.
func (s *setup) workFile(name string) bool {
	dirs, _ := os.ReadDir(s.work)
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(s.work, d.Name(), name)); err == nil {
			return true
		}
	}
	return false
}

// workDirs returns the work directories under s.work (other entries, a
// file that fills a small filesystem, are not counted).
func (s *setup) workDirs() []string {
	s.t.Helper()
	ents, err := os.ReadDir(s.work)
	if err != nil {
		s.t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.Name() != fillName {
			out = append(out, filepath.Join(s.work, e.Name()))
		}
	}
	return out
}

func (s *setup) clearRecords() {
	s.t.Helper()
	if err := os.RemoveAll(s.recorded); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Mkdir(s.recorded, 0o755); err != nil {
		s.t.Fatal(err)
	}
}

// writeConfRaw replaces simscan.conf with text, for the cases that need a
// workdir or qmailqueue other than the setup's.
func (s *setup) writeConfRaw(text string) {
	s.t.Helper()
	if err := os.WriteFile(filepath.Join(s.control, "simscan.conf"), []byte(text), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// scanErrText is what the sender sees for a scanner that failed, with the
// custom-error patch.
const scanErrText = "ZYour email could not be scanned now, please try again later"

// tempFailLine matches a TEMPFAIL log line whose detail matches detail.
func tempFailLine(detail string) *regexp.Regexp {
	return regexp.MustCompile(`^simscan:\[\d+\]:TEMPFAIL:\d+\.\d{4}s:` + detail)
}

// assertTempFail checks the common row of the matrix: exit 71 (82 and Z
// text on fd 4 when scanErr and fd 4 is open), a TEMPFAIL log line whose
// detail matches detail, nothing queued and no work directory left.
func (s *setup) assertTempFail(o outcome, errFD4, scanErr bool, detail string) {
	s.t.Helper()
	wantCode, wantErr4 := int(qmail.TempFail), ""
	if errFD4 && scanErr {
		wantCode, wantErr4 = int(qmail.CustomError), scanErrText
	}
	if o.code != wantCode || o.err4 != wantErr4 {
		s.t.Errorf("exit %d, fd 4 %q; want %d, %q\n%s", o.code, o.err4, wantCode, wantErr4, o.stderr)
	}
	line := logLine(s.t, o.stderr)
	if !tempFailLine(detail).MatchString(line) {
		s.t.Errorf("log line %q does not match TEMPFAIL:%s", line, detail)
	}
	s.t.Logf("exit %d after %v: %s", o.code, o.took.Round(time.Millisecond), line)
	if len(o.records) != 0 {
		s.t.Errorf("%d deliveries, want none", len(o.records))
	}
	if left := s.workDirs(); len(left) != 0 {
		s.t.Errorf("work directories left behind: %v", left)
	}
}

// lockedBuffer is a bytes.Buffer safe to read while exec copies into it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fakeDaemon listens on network ("tcp" on loopback, or "unix" in a fresh
// directory) and runs serve for each connection, which it closes after
// serve returns. It returns the address in simscan.conf's syntax.
// Connections still open at cleanup are closed.
func fakeDaemon(t *testing.T, network string, serve func(c net.Conn)) string {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		// Not t.TempDir: a socket path is short (108 bytes) and an address
		// list cannot hold a comma, which a subtest's name may have.
		dir, err := os.MkdirTemp("", "simscan-fake-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		addr = filepath.Join(dir, "fake.sock")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	if network == "unix" {
		return "unix:" + addr
	}
	return ln.Addr().String()
}

// silentDaemon accepts connections and never answers. With read it reads
// and discards what it is sent; without, it reads nothing, so a large
// message fills the socket buffers and simscan's writes block. accepted
// receives one value per connection.
func silentDaemon(t *testing.T, network string, read bool) (addr string, accepted <-chan struct{}) {
	t.Helper()
	ch := make(chan struct{}, 16)
	done := make(chan struct{})
	addr = fakeDaemon(t, network, func(c net.Conn) {
		ch <- struct{}{}
		if read {
			io.Copy(io.Discard, c)
			return
		}
		<-done
	})
	// Registered after fakeDaemon's cleanup, so it runs first and lets the
	// connections go.
	t.Cleanup(func() { close(done) })
	return addr, ch
}

// readClamdRequest reads one "zINSTREAM\0" request up to its zero-length
// chunk (clamd(8) INSTREAM) and returns the bytes streamed.
func readClamdRequest(r *bufio.Reader) (int64, error) {
	cmd, err := r.ReadString(0)
	if err != nil {
		return 0, err
	}
	if cmd != "zINSTREAM\x00" {
		return 0, fmt.Errorf("unexpected clamd command %q", cmd)
	}
	var total int64
	for {
		var size [4]byte
		if _, err := io.ReadFull(r, size[:]); err != nil {
			return total, err
		}
		n := int64(binary.BigEndian.Uint32(size[:]))
		if n == 0 {
			return total, nil
		}
		if _, err := io.CopyN(io.Discard, r, n); err != nil {
			return total, err
		}
		total += n
	}
}

// readSpamdRequest reads one SPAMC/1.5 request (spamd's PROTOCOL document):
// the request line, headers up to an empty line, and Content-length bytes.
// It returns the whole request.
func readSpamdRequest(r *bufio.Reader) ([]byte, error) {
	var req bytes.Buffer
	length := int64(-1)
	for {
		line, err := r.ReadString('\n')
		req.WriteString(line)
		if err != nil {
			return req.Bytes(), err
		}
		if line == "\r\n" {
			break
		}
		if v, ok := strings.CutPrefix(line, "Content-length: "); ok {
			length, err = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return req.Bytes(), err
			}
		}
	}
	if length < 0 {
		return req.Bytes(), errors.New("spamd request without Content-length")
	}
	_, err := io.CopyN(&req, r, length)
	return req.Bytes(), err
}

// scripted is a fake daemon that reads a whole request with read, then
// writes reply and closes.
func scripted(t *testing.T, read func(*bufio.Reader) error, reply []byte) string {
	t.Helper()
	return fakeDaemon(t, "tcp", func(c net.Conn) {
		if err := read(bufio.NewReader(c)); err != nil {
			t.Errorf("fake daemon: reading the request: %v", err)
			return
		}
		c.Write(reply)
	})
}

// clamdRequest and spamdRequest read a request for scripted.
func clamdRequest(r *bufio.Reader) error { _, err := readClamdRequest(r); return err }

func spamdRequest(r *bufio.Reader) error { _, err := readSpamdRequest(r); return err }

// cutProxy forwards each request, read whole with read, to the real daemon
// at upstream, reads the daemon's whole reply, and passes on only its first
// cut(reply) bytes before it closes the connection: so simscan sees what it
// would see had the daemon been killed after writing those bytes. A killed
// process's sockets are closed by the kernel: with a FIN when everything it
// was sent had been read (as here), with an RST when unread data was left;
// reset chooses the RST. The returned channel gets each full reply.
func cutProxy(t *testing.T, upstream string, read func(*bufio.Reader) ([]byte, error), cut func(reply []byte) int, reset bool) (string, <-chan []byte) {
	t.Helper()
	replies := make(chan []byte, 4)
	addr := fakeDaemon(t, "tcp", func(c net.Conn) {
		req, err := read(bufio.NewReader(c))
		if err != nil {
			t.Errorf("proxy: reading the request: %v", err)
			return
		}
		up, err := net.Dial("tcp", upstream)
		if err != nil {
			t.Errorf("proxy: %v", err)
			return
		}
		defer up.Close()
		if _, err := up.Write(req); err != nil {
			t.Errorf("proxy: %v", err)
			return
		}
		reply, err := io.ReadAll(up)
		if err != nil {
			t.Errorf("proxy: reading the reply: %v", err)
			return
		}
		replies <- reply
		c.Write(reply[:cut(reply)])
		if reset {
			c.(*net.TCPConn).SetLinger(0)
		}
	})
	return addr, replies
}

// readClamdRequestBytes reads one INSTREAM request for cutProxy and
// returns it whole.
func readClamdRequestBytes(r *bufio.Reader) ([]byte, error) {
	var req bytes.Buffer
	tee := bufio.NewReader(io.TeeReader(r, &req))
	_, err := readClamdRequest(tee)
	return req.Bytes(), err
}

// holdsFile reports whether process pid has a descriptor open on a path
// that starts with prefix.
func holdsFile(pid int, prefix string) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// requireRoot fails a case that needs root (mounts): CI runs as root, and a
// case that cannot run is a failure, not a skip.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("this case mounts a filesystem and needs root; running as uid %d", os.Geteuid())
	}
}

// fillName is the file that fills a small work filesystem.
const fillName = "fill"

// mountWork mounts a tmpfs on the setup's work directory, read-only if ro,
// and unmounts it at cleanup.
func (s *setup) mountWork(opts string, ro bool) {
	s.t.Helper()
	requireRoot(s.t)
	var flags uintptr
	if ro {
		flags = unix.MS_RDONLY
	}
	if err := unix.Mount("tmpfs", s.work, "tmpfs", flags, opts); err != nil {
		s.t.Fatalf("mount tmpfs on %s: %v", s.work, err)
	}
	s.t.Cleanup(func() {
		if err := unix.Unmount(s.work, 0); err != nil {
			s.t.Errorf("unmount %s: %v", s.work, err)
		}
	})
}

// fill writes a file of n bytes to the work filesystem, or as much as fits
// when n < 0, and checks that the filesystem was big enough for n.
func (s *setup) fill(n int64) {
	s.t.Helper()
	f, err := os.Create(filepath.Join(s.work, fillName))
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	src := io.Reader(&pattern{})
	if n >= 0 {
		src = io.LimitReader(src, n)
	}
	_, err = io.Copy(f, src)
	switch {
	case n < 0 && errors.Is(err, syscall.ENOSPC):
	case err != nil:
		s.t.Fatalf("filling %s: %v", s.work, err)
	}
}

// buildOnce builds a program of this module once per test binary into the
// directory of simscanBin, which TestMain removes.
type buildOnce struct {
	once sync.Once
	path string
	err  error
}

func (b *buildOnce) get(t *testing.T, name, pkg string, env ...string) string {
	t.Helper()
	b.once.Do(func() {
		b.path = filepath.Join(filepath.Dir(simscanBin), name)
		cmd := exec.Command("go", "build", "-o", b.path, pkg)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

var (
	staticBuild     buildOnce
	simscanctlBuild buildOnce
)

// staticSimscan is simscan built as the Makefile builds it, without cgo: a
// static binary, which needs no descriptors for a dynamic loader.
func staticSimscan(t *testing.T) string {
	return staticBuild.get(t, "simscan-static", ".", "CGO_ENABLED=0")
}

func simscanctl(t *testing.T) string {
	return simscanctlBuild.get(t, "simscanctl", "../simscanctl")
}
