// Package clamd is a client for the ClamAV daemon, speaking the socket
// protocol described in clamd(8) ("COMMANDS"), so that no clamdscan process
// is started per message.
//
// All commands use the "z" form of clamd(8): the command is terminated by a
// NUL byte and clamd terminates its reply with a NUL byte too. A message is
// scanned with FILDES on a unix socket, passing the open file descriptor as
// SCM_RIGHTS ancillary data with one dummy byte (clamd(8) "FILDES"), so the
// daemon needs no access to the work directory; on TCP it is sent with
// INSTREAM, in chunks each prefixed by its length as a 4-byte unsigned
// integer in network byte order and ended by a zero-length chunk (clamd(8)
// "INSTREAM"). A stream longer than clamd's StreamMaxLength is answered with
// "INSTREAM size limit exceeded. ERROR" and the connection is closed; the
// client reads that reply even when sending failed.
//
// The package reports what clamd said; what a virus means is the caller's
// policy.
package clamd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/gosimscan/simscan/scanner/dial"
)

var (
	// ErrUnavailable reports that no clamd address could be dialed. It is
	// [dial.ErrUnavailable].
	ErrUnavailable = dial.ErrUnavailable
	// ErrProtocol reports a reply that does not follow clamd(8).
	ErrProtocol = errors.New("clamd protocol error")
	// ErrScan reports a scan that clamd answered with ERROR; the error text
	// carries clamd's reason.
	ErrScan = errors.New("clamd scan error")
	// ErrSizeLimit reports a stream that exceeded clamd's StreamMaxLength.
	// Errors matching it also match ErrScan.
	ErrSizeLimit = errors.New("clamd stream size limit exceeded")
)

// Client talks to one or more clamd daemons. The zero Balance tries the
// addresses in order. A Client is safe for concurrent use; every call uses
// its own connection.
type Client struct {
	Addrs   []dial.Addr
	Balance dial.Balance

	// Stream sends messages with INSTREAM even on unix sockets, for a
	// clamd built without file descriptor passing.
	Stream bool
}

// Result is clamd's verdict on one message.
type Result struct {
	Infected bool
	Virus    string // signature name when Infected
	Raw      string // clamd's reply, without its terminator
}

// chunkSize is the INSTREAM chunk size. clamd accepts any size up to
// StreamMaxLength; 64 KiB keeps the number of writes low for large
// messages.
const chunkSize = 64 << 10

// maxReply bounds a reply; longer ones are garbage.
const maxReply = 4 << 10

// Scan scans the whole content of f, from offset 0; f's offset is the same
// afterwards. An infection is a Result, not an error. Errors name the daemon's
// address; those caused by the context match its error (for example
// [context.DeadlineExceeded]).
func (c *Client) Scan(ctx context.Context, f *os.File) (Result, error) {
	// clamd answers OK for a descriptor it cannot read (one opened
	// write-only, say): make sure f can be read before passing it.
	if _, err := f.ReadAt(make([]byte, 1), 0); err != nil && err != io.EOF {
		return Result{}, fmt.Errorf("clamd: message file: %w", err)
	}
	conn, err := dial.Open(ctx, c.Addrs, c.Balance)
	if err != nil {
		return Result{}, fmt.Errorf("clamd: %w", err)
	}
	defer conn.Close()

	var reply string
	if conn.Addr.Unix() && !c.Stream {
		reply, err = fildes(conn, f)
	} else {
		reply, err = instream(conn, f)
	}
	if err != nil {
		return Result{}, fmt.Errorf("clamd %s: %w", conn.Addr, err)
	}
	res, err := parseScanReply(reply)
	if err != nil {
		return res, fmt.Errorf("clamd %s: %w", conn.Addr, err)
	}
	return res, nil
}

// fildes sends "zFILDES\0" and one dummy byte in a single message that
// carries f's descriptor, the second form clamd(8) allows for FILDES.
// The passed descriptor shares f's file offset, which clamd moves while it
// scans; the offset is restored when the reply has arrived. A call cut
// short by its context may return while clamd still reads the file.
func fildes(conn *dial.Conn, f *os.File) (string, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return "", fmt.Errorf("message file: %w", err)
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return "", fmt.Errorf("message file: %w", err)
	}
	var werr error
	// Control keeps the descriptor open while it is being sent.
	if err := rc.Control(func(fd uintptr) {
		_, _, werr = conn.WriteMsgUnix([]byte("zFILDES\x00\x00"), syscall.UnixRights(int(fd)))
	}); err != nil {
		return "", fmt.Errorf("message file: %w", err)
	}
	reply, err := replyAfter(conn, werr)
	if _, serr := f.Seek(off, io.SeekStart); serr != nil && err == nil {
		err = fmt.Errorf("message file: restoring offset: %w", serr)
	}
	return reply, err
}

// instream sends "zINSTREAM\0" and f's content, from offset 0, as
// length-prefixed chunks ended by a zero-length chunk. The command goes out
// with the first chunk and the end mark with the last, so a message up to
// chunkSize bytes takes a single write.
func instream(conn *dial.Conn, f io.ReaderAt) (string, error) {
	const cmd = "zINSTREAM\x00"
	buf := make([]byte, len(cmd)+4+chunkSize+4)
	start := copy(buf, cmd)
	var off int64
	for {
		data := buf[start+4 : start+4+chunkSize]
		n, err := f.ReadAt(data, off)
		off += int64(n)
		if err != nil && err != io.EOF {
			// Our own file failed; clamd would wait for more data.
			return "", fmt.Errorf("message file: %w", err)
		}
		binary.BigEndian.PutUint32(buf[start:], uint32(n))
		end := start + 4 + n
		if err == io.EOF && n > 0 {
			binary.BigEndian.PutUint32(buf[end:], 0)
			end += 4
		}
		if _, werr := conn.Write(buf[:end]); werr != nil {
			return replyAfter(conn, werr)
		}
		if err == io.EOF {
			return replyAfter(conn, nil)
		}
		start = 0
	}
}

// replyAfter reads the reply to a command whose sending ended with werr.
// clamd may answer and close before reading everything (a stream over
// StreamMaxLength), which breaks the write; its reply then explains the
// failure better than the broken pipe does.
func replyAfter(conn *dial.Conn, werr error) (string, error) {
	if werr != nil && (errors.Is(werr, context.DeadlineExceeded) || errors.Is(werr, context.Canceled)) {
		return "", werr
	}
	reply, rerr := readReply(conn)
	switch {
	case werr == nil:
		return reply, rerr
	case rerr == nil:
		return reply, nil
	}
	return "", werr
}

// readReply reads one NUL-terminated reply. A reply cut short by the end
// of the connection is accepted if it is not empty.
func readReply(r io.Reader) (string, error) {
	buf := make([]byte, maxReply)
	n := 0
	for {
		m, err := r.Read(buf[n:])
		if i := bytes.IndexByte(buf[n:n+m], 0); i >= 0 {
			return string(buf[:n+i]), nil
		}
		n += m
		switch {
		case err == io.EOF && n == 0:
			return "", fmt.Errorf("%w: connection closed without a reply", ErrProtocol)
		case err == io.EOF:
			return strings.TrimRight(string(buf[:n]), "\n"), nil
		case err != nil:
			return "", err
		case n == len(buf):
			return "", fmt.Errorf("%w: reply longer than %d bytes: %q", ErrProtocol, maxReply, truncate(string(buf)))
		}
	}
}

// parseScanReply parses the reply to INSTREAM or FILDES:
//
//	stream: OK
//	stream: Win.Test.EICAR_HDB-1 FOUND
//	fd[7]: OK
//	INSTREAM size limit exceeded. ERROR
//	fd[7]: lstat() failed: No such file or directory. ERROR
func parseScanReply(reply string) (Result, error) {
	res := Result{Raw: reply}
	if text, ok := strings.CutSuffix(reply, " ERROR"); ok {
		text = stripSubject(text)
		if strings.Contains(text, "size limit exceeded") {
			return res, fmt.Errorf("%w: %w: %s", ErrScan, ErrSizeLimit, text)
		}
		return res, fmt.Errorf("%w: %s", ErrScan, text)
	}
	subject, verdict, ok := strings.Cut(reply, ": ")
	if !ok || !validSubject(subject) {
		return res, fmt.Errorf("%w: unexpected reply %q", ErrProtocol, truncate(reply))
	}
	if verdict == "OK" {
		return res, nil
	}
	if name, ok := strings.CutSuffix(verdict, " FOUND"); ok && strings.TrimSpace(name) != "" {
		res.Infected = true
		res.Virus = name
		return res, nil
	}
	return res, fmt.Errorf("%w: unexpected reply %q", ErrProtocol, truncate(reply))
}

// validSubject reports whether s is what clamd names the scanned object in
// a reply to INSTREAM ("stream") or FILDES ("fd[N]").
func validSubject(s string) bool {
	if s == "stream" {
		return true
	}
	n, ok := strings.CutPrefix(s, "fd[")
	if !ok {
		return false
	}
	n, ok = strings.CutSuffix(n, "]")
	if !ok || n == "" {
		return false
	}
	for _, r := range n {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// stripSubject removes a leading "stream: " or "fd[N]: " from an error
// text.
func stripSubject(text string) string {
	if subject, rest, ok := strings.Cut(text, ": "); ok && validSubject(subject) {
		return rest
	}
	return text
}

func truncate(s string) string {
	if len(s) > 128 {
		return s[:128] + "..."
	}
	return s
}

// command sends a command without arguments and returns the reply.
func (c *Client) command(ctx context.Context, cmd string) (string, dial.Addr, error) {
	conn, err := dial.Open(ctx, c.Addrs, c.Balance)
	if err != nil {
		return "", dial.Addr{}, fmt.Errorf("clamd: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("z" + cmd + "\x00")); err != nil {
		return "", conn.Addr, fmt.Errorf("clamd %s: %s: %w", conn.Addr, cmd, err)
	}
	reply, err := readReply(conn)
	if err != nil {
		return "", conn.Addr, fmt.Errorf("clamd %s: %s: %w", conn.Addr, cmd, err)
	}
	return reply, conn.Addr, nil
}

// Version returns clamd's VERSION reply, the engine version, the signature
// database version and its date, for example
// "ClamAV 1.0.7/27000/Mon Jul 29 08:25:13 2024".
func (c *Client) Version(ctx context.Context) (string, error) {
	reply, addr, err := c.command(ctx, "VERSION")
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(reply, "ClamAV ") {
		return "", fmt.Errorf("clamd %s: VERSION: %w: unexpected reply %q", addr, ErrProtocol, truncate(reply))
	}
	return reply, nil
}

// Ping checks that clamd answers PING with PONG.
func (c *Client) Ping(ctx context.Context) error {
	reply, addr, err := c.command(ctx, "PING")
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return fmt.Errorf("clamd %s: PING: %w: unexpected reply %q", addr, ErrProtocol, truncate(reply))
	}
	return nil
}
