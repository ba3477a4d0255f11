package clamd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gosimscan/simscan/scanner/dial"
	"github.com/gosimscan/simscan/scanner/dial/dialtest"
)

const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// message writes content to a file in a temporary directory and returns it
// opened for reading, positioned at offset 3 so that tests see whether Scan
// reads from offset 0 and leaves the offset alone.
func message(tb testing.TB, content []byte) *os.File {
	tb.Helper()
	name := filepath.Join(tb.TempDir(), "msg")
	if err := os.WriteFile(name, content, 0o600); err != nil {
		tb.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	if len(content) >= 3 {
		if _, err := f.Seek(3, io.SeekStart); err != nil {
			tb.Fatal(err)
		}
	}
	return f
}

func checkOffset(tb testing.TB, f *os.File) {
	tb.Helper()
	if off, err := f.Seek(0, io.SeekCurrent); err != nil || off != 3 {
		tb.Errorf("file offset after scan = %d, %v; want 3", off, err)
	}
}

// readCommand reads one NUL-terminated command.
func readCommand(r *bufio.Reader) (string, error) {
	s, err := r.ReadString(0)
	return strings.TrimSuffix(s, "\x00"), err
}

// readStream reads INSTREAM chunks up to the zero-length one. It stops with
// what it has after maxChunks chunks if maxChunks > 0.
func readStream(r io.Reader, maxChunks int) ([]byte, error) {
	var data []byte
	for i := 0; maxChunks <= 0 || i < maxChunks; i++ {
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return data, err
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 {
			return data, nil
		}
		chunk := make([]byte, n)
		if _, err := io.ReadFull(r, chunk); err != nil {
			return data, err
		}
		data = append(data, chunk...)
	}
	return data, nil
}

// instreamd is a fake clamd that reads one INSTREAM and answers with
// reply(content); an empty reply closes the connection without answering.
// Received content is sent on got if got is not nil.
func instreamd(tb testing.TB, got chan<- []byte, reply func([]byte) string) func(net.Conn) {
	return func(c net.Conn) {
		r := bufio.NewReader(c)
		cmd, err := readCommand(r)
		if err != nil || cmd != "zINSTREAM" {
			tb.Errorf("fake clamd: command %q, %v; want zINSTREAM", cmd, err)
			return
		}
		data, err := readStream(r, 0)
		if err != nil {
			tb.Errorf("fake clamd: reading stream: %v", err)
			return
		}
		if got != nil {
			got <- data
		}
		if s := reply(data); s != "" {
			io.WriteString(c, s+"\x00")
		}
	}
}

// fildesd is a fake clamd that receives one FILDES, reads the file through
// the passed descriptor (moving its offset, as clamd does) and answers with
// reply(content, "fd[N]"). Received content is sent on got if not nil.
func fildesd(tb testing.TB, got chan<- []byte, reply func(content []byte, subject string) string) func(net.Conn) {
	return func(c net.Conn) {
		uc := c.(*net.UnixConn)
		var data []byte
		var fds []int
		buf := make([]byte, 64)
		oob := make([]byte, syscall.CmsgSpace(4*4))
		for len(data) <= len("zFILDES\x00") || len(fds) == 0 {
			n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
			if err != nil {
				tb.Errorf("fake clamd: %v (got %q, %d fds)", err, data, len(fds))
				return
			}
			data = append(data, buf[:n]...)
			msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
			if err != nil {
				tb.Errorf("fake clamd: %v", err)
				return
			}
			for _, m := range msgs {
				rights, err := syscall.ParseUnixRights(&m)
				if err != nil {
					tb.Errorf("fake clamd: %v", err)
					return
				}
				fds = append(fds, rights...)
			}
		}
		for _, fd := range fds[1:] {
			syscall.Close(fd)
		}
		if want := "zFILDES\x00\x00"; string(data) != want {
			tb.Errorf("fake clamd: received %q, want %q", data, want)
		}
		f := os.NewFile(uintptr(fds[0]), "passed")
		defer f.Close()
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			tb.Errorf("fake clamd: %v", err)
			return
		}
		content, err := io.ReadAll(f)
		if err != nil {
			tb.Errorf("fake clamd: reading passed descriptor: %v", err)
			return
		}
		if got != nil {
			got <- content
		}
		io.WriteString(c, reply(content, fmt.Sprintf("fd[%d]", fds[0]))+"\x00")
	}
}

func eicarReply(subject string) func([]byte) string {
	return func(data []byte) string {
		if bytes.Contains(data, []byte(eicar)) {
			return subject + ": Win.Test.EICAR_HDB-1 FOUND"
		}
		return subject + ": OK"
	}
}

func ctxTimeout(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

func TestScanINSTREAM(t *testing.T) {
	// Larger than one chunk, not a multiple of the chunk size.
	big := bytes.Repeat([]byte("Subject: hello\r\n"), 3*chunkSize/16+5)
	infected := append(bytes.Clone(big), eicar...)

	for _, network := range []string{"tcp", "unix"} {
		got := make(chan []byte, 1)
		handle := instreamd(t, got, eicarReply("stream"))
		var srv *dialtest.Server
		c := &Client{}
		if network == "tcp" {
			srv = dialtest.TCP(t, handle)
		} else {
			srv = dialtest.Unix(t, handle)
			c.Stream = true
		}
		c.Addrs = []dial.Addr{srv.Addr}

		for _, tt := range []struct {
			content []byte
			want    Result
		}{
			{big, Result{Raw: "stream: OK"}},
			{infected, Result{Infected: true, Virus: "Win.Test.EICAR_HDB-1", Raw: "stream: Win.Test.EICAR_HDB-1 FOUND"}},
			{nil, Result{Raw: "stream: OK"}},
		} {
			f := message(t, tt.content)
			res, err := c.Scan(ctxTimeout(t, 10*time.Second), f)
			if err != nil {
				t.Fatalf("%s: %v", network, err)
			}
			if res != tt.want {
				t.Errorf("%s: Scan = %+v, want %+v", network, res, tt.want)
			}
			if data := <-got; !bytes.Equal(data, tt.content) {
				t.Errorf("%s: clamd received %d bytes, want the %d of the file", network, len(data), len(tt.content))
			}
			if len(tt.content) > 0 {
				checkOffset(t, f)
			}
		}
	}
}

func TestScanFILDES(t *testing.T) {
	got := make(chan []byte, 1)
	srv := dialtest.Unix(t, fildesd(t, got, func(content []byte, subject string) string {
		return eicarReply(subject)(content)
	}))
	c := &Client{Addrs: []dial.Addr{srv.Addr}}
	for _, content := range []string{"Subject: clean\r\n\r\nhello\r\n", "Subject: virus\r\n\r\n" + eicar + "\r\n"} {
		f := message(t, []byte(content))
		res, err := c.Scan(ctxTimeout(t, 10*time.Second), f)
		if err != nil {
			t.Fatal(err)
		}
		// The fake read the content through the passed descriptor.
		if data := <-got; string(data) != content {
			t.Errorf("content read through the passed descriptor = %q, want %q", data, content)
		}
		wantInfected := strings.Contains(content, eicar)
		if res.Infected != wantInfected || !strings.HasPrefix(res.Raw, "fd[") {
			t.Errorf("Scan = %+v, want Infected %v and an fd[N] reply", res, wantInfected)
		}
		if wantInfected && res.Virus != "Win.Test.EICAR_HDB-1" {
			t.Errorf("Virus = %q", res.Virus)
		}
		checkOffset(t, f)
	}
}

// TestScanUnreadable passes a write-only file, which the real clamd would
// call clean: Scan must refuse it without asking clamd.
func TestScanUnreadable(t *testing.T) {
	srv := dialtest.Unix(t, func(net.Conn) { t.Error("client connected") })
	f, err := os.OpenFile(filepath.Join(t.TempDir(), "msg"), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(eicar)
	_, err = (&Client{Addrs: []dial.Addr{srv.Addr}}).Scan(ctxTimeout(t, 10*time.Second), f)
	if err == nil || !errors.Is(err, syscall.EBADF) {
		t.Errorf("err = %v, want EBADF", err)
	}
}

func TestScanReplies(t *testing.T) {
	tests := []struct {
		reply string
		want  Result
		errs  []error
		text  string // in the error
	}{
		{reply: "stream: OK", want: Result{Raw: "stream: OK"}},
		{reply: "stream: Win.Test.EICAR_HDB-1 FOUND", want: Result{Infected: true, Virus: "Win.Test.EICAR_HDB-1", Raw: "stream: Win.Test.EICAR_HDB-1 FOUND"}},
		{reply: "stream: Sanesecurity Phish: odd name FOUND", want: Result{Infected: true, Virus: "Sanesecurity Phish: odd name", Raw: "stream: Sanesecurity Phish: odd name FOUND"}},
		{reply: "fd[12]: Heuristics.Encrypted.Zip FOUND", want: Result{Infected: true, Virus: "Heuristics.Encrypted.Zip", Raw: "fd[12]: Heuristics.Encrypted.Zip FOUND"}},
		{reply: "stream: Can't allocate memory ERROR", errs: []error{ErrScan}, text: "Can't allocate memory"},
		{reply: "INSTREAM size limit exceeded. ERROR", errs: []error{ErrScan, ErrSizeLimit}, text: "INSTREAM size limit exceeded."},
		{reply: "UNKNOWN COMMAND", errs: []error{ErrProtocol}, text: "UNKNOWN COMMAND"},
		{reply: "stream: FOUND", errs: []error{ErrProtocol}},
		{reply: "stream: maybe", errs: []error{ErrProtocol}},
		{reply: "/etc/passwd: OK", errs: []error{ErrProtocol}},
		{reply: "", errs: []error{ErrProtocol}, text: "closed without a reply"},
		{reply: strings.Repeat("garbage", 1000), errs: []error{ErrProtocol}, text: "longer than"},
	}
	for _, tt := range tests {
		srv := dialtest.TCP(t, instreamd(t, nil, func([]byte) string { return tt.reply }))
		c := &Client{Addrs: []dial.Addr{srv.Addr}}
		res, err := c.Scan(ctxTimeout(t, 10*time.Second), message(t, []byte("hello")))
		if len(tt.errs) == 0 {
			if err != nil || res != tt.want {
				t.Errorf("reply %q: Scan = %+v, %v; want %+v", tt.reply, res, err, tt.want)
			}
			continue
		}
		for _, e := range tt.errs {
			if !errors.Is(err, e) {
				t.Errorf("reply %q: err = %v, want %v", tt.reply, err, e)
			}
		}
		if err != nil && (!strings.Contains(err.Error(), tt.text) || !strings.Contains(err.Error(), srv.Addr.String())) {
			t.Errorf("reply %q: err = %q, want it to contain %q and the address", tt.reply, err, tt.text)
		}
		if res.Infected {
			t.Errorf("reply %q: Infected with an error", tt.reply)
		}
	}
}

// TestScanSizeLimit has clamd give up after a few chunks, answer and close,
// as it does past StreamMaxLength: the client's writes fail, and it must
// still report clamd's answer.
func TestScanSizeLimit(t *testing.T) {
	f := message(t, bytes.Repeat([]byte("x"), 16<<20))
	limited := func(c net.Conn) {
		r := bufio.NewReader(c)
		if cmd, err := readCommand(r); err != nil || cmd != "zINSTREAM" {
			t.Errorf("fake clamd: command %q, %v", cmd, err)
			return
		}
		readStream(r, 3)
		io.WriteString(c, "INSTREAM size limit exceeded. ERROR\x00")
	}
	for _, srv := range []*dialtest.Server{dialtest.TCP(t, limited), dialtest.Unix(t, limited)} {
		c := &Client{Addrs: []dial.Addr{srv.Addr}, Stream: true}
		for range 5 {
			_, err := c.Scan(ctxTimeout(t, 10*time.Second), f)
			if !errors.Is(err, ErrSizeLimit) || !errors.Is(err, ErrScan) {
				t.Fatalf("%v: err = %v, want ErrSizeLimit", srv.Addr, err)
			}
		}
	}
}

// TestScanDeadline uses a clamd that accepts the message and never answers.
func TestScanDeadline(t *testing.T) {
	silent := func(c net.Conn) { io.Copy(io.Discard, c) }
	for _, srv := range []*dialtest.Server{dialtest.TCP(t, silent), dialtest.Unix(t, silent)} {
		c := &Client{Addrs: []dial.Addr{srv.Addr}, Stream: true}
		_, err := c.Scan(ctxTimeout(t, 100*time.Millisecond), message(t, []byte("hello")))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%v: err = %v, want DeadlineExceeded", srv.Addr, err)
		}
		if err != nil && !strings.Contains(err.Error(), srv.Addr.String()) {
			t.Errorf("err = %q does not name the address", err)
		}
	}

	// A clamd that stops reading: the writes block until the deadline.
	done := make(chan struct{})
	stuck := dialtest.Unix(t, func(net.Conn) { <-done })
	t.Cleanup(func() { close(done) }) // runs before the server's Close
	c := &Client{Addrs: []dial.Addr{stuck.Addr}, Stream: true}
	_, err := c.Scan(ctxTimeout(t, 100*time.Millisecond), message(t, make([]byte, 8<<20)))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stuck reader: err = %v, want DeadlineExceeded", err)
	}

	c = &Client{Addrs: []dial.Addr{stuck.Addr}}
	if _, err := c.Version(ctxTimeout(t, 100*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Version: err = %v, want DeadlineExceeded", err)
	}
}

func TestScanFailover(t *testing.T) {
	srv := dialtest.TCP(t, instreamd(t, nil, eicarReply("stream")))
	refused := dialtest.Refused(t)
	c := &Client{Addrs: []dial.Addr{refused, dialtest.Missing(t), srv.Addr}}
	res, err := c.Scan(ctxTimeout(t, 10*time.Second), message(t, []byte(eicar)))
	if err != nil || !res.Infected {
		t.Fatalf("Scan = %+v, %v; want infected via the third address", res, err)
	}

	c = &Client{Addrs: []dial.Addr{refused}}
	_, err = c.Scan(ctxTimeout(t, 10*time.Second), message(t, []byte(eicar)))
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), refused.String()) {
		t.Errorf("all refused: err = %v, want ErrUnavailable naming %v", err, refused)
	}
}

func TestScanRandom(t *testing.T) {
	var srvs []*dialtest.Server
	c := &Client{Balance: dial.Random}
	for range 3 {
		srv := dialtest.Unix(t, fildesd(t, nil, func(_ []byte, subject string) string { return subject + ": OK" }))
		srvs = append(srvs, srv)
		c.Addrs = append(c.Addrs, srv.Addr)
	}
	f := message(t, []byte("hello"))
	for range 100 {
		if _, err := c.Scan(ctxTimeout(t, 10*time.Second), f); err != nil {
			t.Fatal(err)
		}
	}
	for i, srv := range srvs {
		if srv.Accepted.Load() == 0 {
			t.Errorf("server %d never used", i)
		}
	}
}

// commandd is a fake clamd answering one command with reply.
func commandd(tb testing.TB, want, reply string) func(net.Conn) {
	return func(c net.Conn) {
		cmd, err := readCommand(bufio.NewReader(c))
		if err != nil || cmd != want {
			tb.Errorf("fake clamd: command %q, %v; want %q", cmd, err, want)
			return
		}
		io.WriteString(c, reply)
	}
}

func TestVersion(t *testing.T) {
	const v = "ClamAV 1.0.7/27000/Mon Jul 29 08:25:13 2024"
	srv := dialtest.Unix(t, commandd(t, "zVERSION", v+"\x00"))
	got, err := (&Client{Addrs: []dial.Addr{srv.Addr}}).Version(ctxTimeout(t, 10*time.Second))
	if err != nil || got != v {
		t.Errorf("Version = %q, %v; want %q", got, err, v)
	}

	srv = dialtest.Unix(t, commandd(t, "zVERSION", "HTTP/1.1 400 Bad Request\r\n\r\n"))
	if got, err := (&Client{Addrs: []dial.Addr{srv.Addr}}).Version(ctxTimeout(t, 10*time.Second)); !errors.Is(err, ErrProtocol) {
		t.Errorf("garbage: Version = %q, %v; want ErrProtocol", got, err)
	}
}

func TestPing(t *testing.T) {
	srv := dialtest.TCP(t, commandd(t, "zPING", "PONG\x00"))
	if err := (&Client{Addrs: []dial.Addr{srv.Addr}}).Ping(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Errorf("Ping: %v", err)
	}
	srv = dialtest.TCP(t, commandd(t, "zPING", "PANG\x00"))
	if err := (&Client{Addrs: []dial.Addr{srv.Addr}}).Ping(ctxTimeout(t, 10*time.Second)); !errors.Is(err, ErrProtocol) {
		t.Errorf("Ping = %v, want ErrProtocol", err)
	}
}

func FuzzParseScanReply(f *testing.F) {
	for _, s := range []string{"stream: OK", "fd[3]: OK", "stream: A B: C FOUND", "INSTREAM size limit exceeded. ERROR", "fd[1]: x ERROR", ": FOUND", "fd[]: OK"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		res, err := parseScanReply(reply)
		if res.Raw != reply {
			t.Errorf("Raw = %q", res.Raw)
		}
		if err != nil && res.Infected {
			t.Errorf("%q: infected and error %v", reply, err)
		}
		if res.Infected && strings.TrimSpace(res.Virus) == "" {
			t.Errorf("%q: infected without a name", reply)
		}
		if err == nil && !res.Infected && !strings.HasSuffix(reply, ": OK") {
			t.Errorf("%q: clean without OK", reply)
		}
	})
}

func benchmarkScan(b *testing.B, srv *dialtest.Server, stream bool) {
	c := &Client{Addrs: []dial.Addr{srv.Addr}, Stream: stream}
	f := message(b, bytes.Repeat([]byte("Subject: benchmark\r\n"), 200)) // 4 KB
	ctx := ctxTimeout(b, time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Scan(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScanFILDES(b *testing.B) {
	benchmarkScan(b, dialtest.Unix(b, fildesd(b, nil, func(_ []byte, s string) string { return s + ": OK" })), false)
}

func BenchmarkScanINSTREAMUnix(b *testing.B) {
	benchmarkScan(b, dialtest.Unix(b, instreamd(b, nil, eicarReply("stream"))), true)
}

func BenchmarkScanINSTREAMTCP(b *testing.B) {
	benchmarkScan(b, dialtest.TCP(b, instreamd(b, nil, eicarReply("stream"))), true)
}
