// Package spamd is a client for SpamAssassin's spamd, speaking version 1.5
// of the protocol described in the PROTOCOL document of the SpamAssassin
// distribution ("SPAMC/SPAMD Protocol As Implemented by SpamAssassin"), so
// that no spamc process is started per message.
//
// A request is a line "METHOD SPAMC/1.5", header lines and an empty line,
// all ending in CRLF, followed by the message. The response is a line
// "SPAMD/<version> <code> <text>", where a code other than 0 (EX_OK) is a
// sysexits(3) failure such as "SPAMD/1.0 76 Bad header line", then header
// lines, an empty line and, for PROCESS and HEADERS, a body of
// Content-length bytes. The verdict is the header
// "Spam: True ; 15.3 / 5.0" (True or False; Yes or No with REPORT_IFSPAM),
// the score and the user's threshold.
//
// spamd compares header names exactly, so the request header is spelt
// "Content-length". Messages are streamed from an [io.ReaderAt] and
// processed messages to an [io.Writer]; neither is held in memory.
//
// The package reports what spamd said; what a score means is the caller's
// policy.
package spamd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/gosimscan/simscan/scanner/dial"
)

var (
	// ErrUnavailable reports that no spamd address could be dialed. It is
	// [dial.ErrUnavailable].
	ErrUnavailable = dial.ErrUnavailable
	// ErrProtocol reports a response that does not follow the protocol,
	// including a processed message shorter than its Content-length.
	ErrProtocol = errors.New("spamd protocol error")
	// ErrSpamd reports a response with a code other than EX_OK; the error
	// is a [*ResponseError].
	ErrSpamd = errors.New("spamd error")
	// ErrUser reports a user name spamd would refuse: it must not contain
	// control characters.
	ErrUser = errors.New("bad spamd user name")
)

// ResponseError is a response whose code is not 0 (EX_OK). It matches
// [ErrSpamd].
type ResponseError struct {
	Code    int    // sysexits(3) code, e.g. 76 (EX_PROTOCOL)
	Message string // the rest of the response line
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("%v: %d %s", ErrSpamd, e.Code, e.Message)
}

// Unwrap returns ErrSpamd.
func (e *ResponseError) Unwrap() error { return ErrSpamd }

// Client talks to one or more spamd daemons. The zero Balance tries the
// addresses in order. A Client is safe for concurrent use; every call uses
// its own connection.
type Client struct {
	Addrs   []dial.Addr
	Balance dial.Balance
}

// Result is spamd's verdict on one message.
type Result struct {
	Spam      bool
	Score     float64
	Threshold float64
}

// Limits on what spamd may send before the body.
const (
	maxLine    = 4 << 10
	maxHeaders = 64
)

// Check asks spamd for its verdict on the size bytes of msg from offset 0,
// scored with user's preferences (none if user is empty). Errors name the
// daemon's address; those caused by the context match its error (for
// example [context.DeadlineExceeded]).
func (c *Client) Check(ctx context.Context, msg io.ReaderAt, size int64, user string) (Result, error) {
	return c.do(ctx, "CHECK", msg, size, user, nil)
}

// Process is Check that also writes the message as spamd rewrote it (with
// its X-Spam headers, and a report if the user's configuration asks for
// one) to out. The body is streamed and must be exactly as long as spamd
// announced; on error, out may hold part of it and must be discarded.
func (c *Client) Process(ctx context.Context, msg io.ReaderAt, size int64, user string, out io.Writer) (Result, error) {
	return c.do(ctx, "PROCESS", msg, size, user, out)
}

// do sends a request with a message and reads the response; out receives
// the body of PROCESS and HEADERS responses.
func (c *Client) do(ctx context.Context, method string, msg io.ReaderAt, size int64, user string, out io.Writer) (Result, error) {
	if err := checkUser(user); err != nil {
		return Result{}, err
	}
	if size < 0 {
		return Result{}, fmt.Errorf("spamd: negative message size %d", size)
	}
	conn, err := dial.Open(ctx, c.Addrs, c.Balance)
	if err != nil {
		return Result{}, fmt.Errorf("spamd: %w", err)
	}
	defer conn.Close()

	res, err := exchange(conn, method, msg, size, user, out)
	if err != nil {
		return Result{}, fmt.Errorf("spamd %s: %s: %w", conn.Addr, method, err)
	}
	return res, nil
}

func checkUser(user string) error {
	for _, r := range []byte(user) {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w %q", ErrUser, user)
		}
	}
	return nil
}

// exchange runs one request on conn.
func exchange(conn *dial.Conn, method string, msg io.ReaderAt, size int64, user string, out io.Writer) (Result, error) {
	var hdr strings.Builder
	fmt.Fprintf(&hdr, "%s SPAMC/1.5\r\nContent-length: %d\r\n", method, size)
	if user != "" {
		fmt.Fprintf(&hdr, "User: %s\r\n", user)
	}
	hdr.WriteString("\r\n")

	werr, ferr := send(conn, hdr.String(), msg, size)
	if ferr != nil {
		// Our own file failed; spamd would wait for the rest.
		return Result{}, ferr
	}
	r := bufio.NewReaderSize(conn, maxLine)
	code, text, err := readStatus(r)
	if werr != nil && err != nil {
		// spamd did not explain why it stopped reading.
		return Result{}, werr
	}
	if err != nil {
		return Result{}, err
	}
	if code != 0 {
		return Result{}, &ResponseError{Code: code, Message: text}
	}
	if werr != nil {
		// EX_OK for a message spamd did not receive in full.
		return Result{}, werr
	}
	h, err := readHeaders(r)
	if err != nil {
		return Result{}, err
	}
	res, err := parseSpam(h)
	if err != nil {
		return Result{}, err
	}
	if out == nil {
		return res, nil
	}
	if err := copyBody(out, r, h); err != nil {
		return Result{}, err
	}
	return res, nil
}

// send writes the request header and the message. The header goes out with
// the start of the message. werr is a failure to write to spamd, ferr one
// to read the message.
func send(w io.Writer, header string, msg io.ReaderAt, size int64) (werr, ferr error) {
	buf := make([]byte, len(header)+32<<10)
	n := copy(buf, header)
	var off int64
	for {
		want := min(int64(len(buf)-n), size-off)
		m, err := msg.ReadAt(buf[n:n+int(want)], off)
		off += int64(m)
		if m < int(want) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("message file: %d of %d bytes: %w", off, size, err)
		}
		if _, err := w.Write(buf[:n+m]); err != nil {
			return err, nil
		}
		if off == size {
			return nil, nil
		}
		n = 0
	}
}

// readLine reads a line ending in LF and returns it without CRLF or LF.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return "", fmt.Errorf("%w: line longer than %d bytes: %q", ErrProtocol, maxLine, truncate(line))
	case err == io.EOF && len(line) == 0:
		return "", fmt.Errorf("%w: connection closed early", ErrProtocol)
	case err == io.EOF:
		return "", fmt.Errorf("%w: connection closed in line %q", ErrProtocol, truncate(line))
	case err != nil:
		return "", err
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r"), nil
}

// readStatus reads the response line "SPAMD/1.1 0 EX_OK".
func readStatus(r *bufio.Reader) (code int, text string, err error) {
	line, err := readLine(r)
	if err != nil {
		return 0, "", err
	}
	return parseStatus(line)
}

func parseStatus(line string) (code int, text string, err error) {
	proto, rest, _ := strings.Cut(line, " ")
	scode, text, _ := strings.Cut(rest, " ")
	version, ok := strings.CutPrefix(proto, "SPAMD/")
	if !ok || version == "" {
		return 0, "", fmt.Errorf("%w: unexpected response %q", ErrProtocol, truncate([]byte(line)))
	}
	code, err = strconv.Atoi(scode)
	if err != nil || code < 0 {
		return 0, "", fmt.Errorf("%w: bad response code in %q", ErrProtocol, truncate([]byte(line)))
	}
	return code, text, nil
}

// readHeaders reads "Name: value" lines up to the empty line. Names are
// returned in canonical form ("Content-Length", "Spam").
func readHeaders(r *bufio.Reader) (textproto.MIMEHeader, error) {
	h := textproto.MIMEHeader{}
	for range maxHeaders {
		line, err := readLine(r)
		if err != nil {
			return nil, err
		}
		if line == "" {
			return h, nil
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("%w: bad header line %q", ErrProtocol, truncate([]byte(line)))
		}
		h.Add(name, strings.TrimSpace(value))
	}
	return nil, fmt.Errorf("%w: more than %d headers", ErrProtocol, maxHeaders)
}

// parseSpam parses the header "Spam: True ; 15.3 / 5.0".
func parseSpam(h textproto.MIMEHeader) (Result, error) {
	v := h.Get("Spam")
	if v == "" {
		return Result{}, fmt.Errorf("%w: no Spam header", ErrProtocol)
	}
	verdict, scores, ok1 := strings.Cut(v, ";")
	score, threshold, ok2 := strings.Cut(scores, "/")
	var res Result
	var err1, err2 error
	res.Score, err1 = strconv.ParseFloat(strings.TrimSpace(score), 64)
	res.Threshold, err2 = strconv.ParseFloat(strings.TrimSpace(threshold), 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil {
		return Result{}, fmt.Errorf("%w: bad Spam header %q", ErrProtocol, truncate([]byte(v)))
	}
	switch strings.ToLower(strings.TrimSpace(verdict)) {
	case "true", "yes":
		res.Spam = true
	case "false", "no":
	default:
		return Result{}, fmt.Errorf("%w: bad Spam header %q", ErrProtocol, truncate([]byte(v)))
	}
	return res, nil
}

// copyBody copies exactly Content-length bytes from r to out.
func copyBody(out io.Writer, r io.Reader, h textproto.MIMEHeader) error {
	cl := h.Get("Content-Length")
	n, err := strconv.ParseInt(cl, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("%w: bad or missing Content-length %q", ErrProtocol, cl)
	}
	w := &errWriter{w: out}
	got, err := io.CopyN(w, r, n)
	switch {
	case w.err != nil:
		return fmt.Errorf("writing processed message: %w", w.err)
	case err == io.EOF:
		return fmt.Errorf("%w: short body: %d of %d bytes", ErrProtocol, got, n)
	}
	return err
}

// errWriter remembers the error of its writer, to tell it apart from a
// failure to read from spamd.
type errWriter struct {
	w   io.Writer
	err error
}

func (w *errWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

func truncate(b []byte) string {
	if len(b) > 128 {
		return string(b[:128]) + "..."
	}
	return string(b)
}

// Ping checks that spamd answers PING with PONG.
func (c *Client) Ping(ctx context.Context) error {
	conn, err := dial.Open(ctx, c.Addrs, c.Balance)
	if err != nil {
		return fmt.Errorf("spamd: %w", err)
	}
	defer conn.Close()
	// SPAMC/1.5 requests carry a header block, here an empty one.
	if _, err := io.WriteString(conn, "PING SPAMC/1.5\r\n\r\n"); err != nil {
		return fmt.Errorf("spamd %s: PING: %w", conn.Addr, err)
	}
	code, text, err := readStatus(bufio.NewReaderSize(conn, maxLine))
	switch {
	case err != nil:
	case code != 0:
		err = &ResponseError{Code: code, Message: text}
	case text != "PONG":
		err = fmt.Errorf("%w: PING answered with %q", ErrProtocol, truncate([]byte(text)))
	}
	if err != nil {
		return fmt.Errorf("spamd %s: PING: %w", conn.Addr, err)
	}
	return nil
}

// versionProbe is the message whose headers Version asks spamd for.
const versionProbe = "Subject: version probe\r\nMessage-ID: <version-probe@simscan>\r\n\r\nversion probe\r\n"

// maxProbeHeaders bounds the headers spamd returns for versionProbe.
const maxProbeHeaders = 64 << 10

// Version returns the SpamAssassin version spamd runs, such as "4.0.1".
// spamd's response line names only the protocol version, so Version sends
// a tiny message with HEADERS and reads the version from the
// X-Spam-Checker-Version header that SpamAssassin adds
// ("SpamAssassin 4.0.1 (2024-03-26) on host"). It returns "unknown" if the
// header is absent, as when the configuration removes it.
func (c *Client) Version(ctx context.Context) (string, error) {
	var buf bytes.Buffer
	out := &limitWriter{w: &buf, n: maxProbeHeaders}
	if _, err := c.do(ctx, "HEADERS", strings.NewReader(versionProbe), int64(len(versionProbe)), "", out); err != nil {
		return "", err
	}
	// The body ends with the empty line after the headers; a missing one
	// still leaves the headers read so far.
	h, _ := textproto.NewReader(bufio.NewReader(&buf)).ReadMIMEHeader()
	f := strings.Fields(h.Get("X-Spam-Checker-Version"))
	if len(f) >= 2 && f[0] == "SpamAssassin" {
		return f[1], nil
	}
	return "unknown", nil
}

// limitWriter fails once more than n bytes are written.
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		return 0, fmt.Errorf("%w: headers longer than %d bytes", ErrProtocol, maxProbeHeaders)
	}
	l.n -= int64(len(p))
	return l.w.Write(p)
}
