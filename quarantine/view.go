package quarantine

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/textproto"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A quarantined message is hostile input, and an admin reads it in a
// terminal. Escape sequences (ESC, CSI as the C1 byte 0x9b or as U+009B, OSC
// ending in BEL) can retitle the window, rewrite the screen, fake a
// prompt or, on some terminals, answer back with typed input. Everything
// here that prints message text therefore replaces each byte or rune that
// is not printable text by a visible escape:
//
//	C0 controls, DEL, invalid UTF-8 bytes   \x1b  \x7f  \x9b
//	a lone CR                               \r
//	non-printing runes (C1 controls, bidi   \u009b  \u202e
//	and other format characters, line and
//	paragraph separators, private use)
//
// Tab and newline stay in text (not in single-line fields), and CR before
// LF is dropped, so mail's CRLF lines read as ordinary lines.

// Safe returns s as a single line with nothing a terminal would act on:
// every control (tab and newline included) and every non-printing or
// invalid byte or rune replaced by a visible escape.
func Safe(s string) string {
	return string(appendSafe(nil, []byte(s), false))
}

// appendSafe appends b to dst escaped. With text set, tab and newline are
// kept and CR before LF is dropped.
func appendSafe(dst, b []byte, text bool) []byte {
	dst, _ = appendSafeN(dst, b, text, true)
	return dst
}

// appendSafeN is appendSafe for a stream: unless final is set, it stops
// before an incomplete UTF-8 sequence or (in text) a CR at the end of b,
// as what follows decides how they are shown. It returns dst and the number
// of bytes of b consumed.
func appendSafeN(dst, b []byte, text, final bool) ([]byte, int) {
	i := 0
	for i < len(b) {
		c := b[i]
		if c < utf8.RuneSelf {
			switch {
			case c >= 0x20 && c < 0x7f:
				dst = append(dst, c)
			case text && (c == '\n' || c == '\t'):
				dst = append(dst, c)
			case text && c == '\r' && i+1 < len(b) && b[i+1] == '\n':
				// CRLF: the LF comes next.
			case text && c == '\r' && i+1 == len(b) && !final:
				return dst, i // decide when the next byte is known
			case c == '\r':
				dst = append(dst, `\r`...)
			case c == '\n':
				dst = append(dst, `\n`...)
			case c == '\t':
				dst = append(dst, `\t`...)
			default:
				dst = fmt.Appendf(dst, `\x%02x`, c)
			}
			i++
			continue
		}
		if !final && !utf8.FullRune(b[i:]) {
			return dst, i
		}
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			dst = fmt.Appendf(dst, `\x%02x`, c)
			n = 1
		case unicode.IsGraphic(r):
			dst = append(dst, b[i:i+n]...)
		case r > 0xffff:
			dst = fmt.Appendf(dst, `\U%08x`, r)
		default:
			dst = fmt.Appendf(dst, `\u%04x`, r)
		}
		i += n
	}
	return dst, i
}

// safeWriter escapes a stream of text as it is written to w. Close writes
// what is held back (a final CR or a cut UTF-8 sequence).
type safeWriter struct {
	w    io.Writer
	held []byte
	out  []byte
}

func newSafeWriter(w io.Writer) *safeWriter { return &safeWriter{w: w} }

func (s *safeWriter) Write(p []byte) (int, error) {
	in := append(s.held, p...)
	var n int
	s.out, n = appendSafeN(s.out[:0], in, true, false)
	s.held = append(s.held[:0:0], in[n:]...)
	if _, err := s.w.Write(s.out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close flushes the held-back bytes; it does not close w.
func (s *safeWriter) Close() error {
	if len(s.held) == 0 {
		return nil
	}
	s.out = appendSafe(s.out[:0], s.held, true)
	s.held = nil
	_, err := s.w.Write(s.out)
	return err
}

// maxViewDepth bounds the nesting of multiparts and attached messages that
// View follows.
const maxViewDepth = 20

// View writes a plain-text view of a raw message to w: the header block,
// then the body, both escaped as Safe describes. Text parts are shown
// decoded from base64 or quoted-printable (their bytes unchanged
// otherwise, so text in another charset than UTF-8 shows its non-ASCII
// bytes as escapes); other parts are listed by type, name and decoded size;
// attached messages are shown as messages. The MIME structure is read
// leniently, by hand: Go's mime/multipart refuses a part whose header holds
// a control character, and a hostile message must not hide a part that
// way. A malformed structure gives a note in the view, never an error:
// only failures to read r or write w are returned.
func View(w io.Writer, r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	v := &viewer{w: w, bol: true}
	v.message(data, 0, "")
	if !v.bol {
		io.WriteString(v, "\n")
	}
	return v.err
}

// viewer writes a view, remembering the first write error and whether
// output is at the beginning of a line.
type viewer struct {
	w   io.Writer
	err error
	bol bool
}

func (v *viewer) Write(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := v.w.Write(p)
	v.err = err
	v.bol = p[len(p)-1] == '\n'
	return n, err
}

// line writes one line of our own (already safe) on a line of its own.
func (v *viewer) line(format string, args ...any) {
	if !v.bol {
		io.WriteString(v, "\n")
	}
	fmt.Fprintf(v, format+"\n", args...)
}

// text copies r to the view escaped, as text, and returns r's error.
func (v *viewer) text(r io.Reader) error {
	sw := newSafeWriter(v)
	_, err := io.Copy(sw, r)
	sw.Close()
	return err
}

func banner(s string) string { return "-------- " + s + " --------" }

// message shows one message: its header block and its body. num is the
// part number of the message, "" for the top.
func (v *viewer) message(b []byte, depth int, num string) {
	raw, body := splitHeader(b)
	v.line("%s", banner("headers"))
	v.text(bytes.NewReader(raw))
	v.line("%s", banner("body"))
	v.part(parseHeader(raw), body, depth, num)
}

// part shows a body: text decoded, multiparts part by part, attached
// messages as messages, anything else as a one-line summary. Parts are
// numbered as IMAP does: 1, 2, 2.1, 2.2.
func (v *viewer) part(h textproto.MIMEHeader, body []byte, depth int, num string) {
	ct, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		ct = "text/plain"
		if h.Get("Content-Type") != "" {
			ct = "application/octet-stream" // unreadable: do not guess it is text
		}
	}
	decoded := decode(h.Get("Content-Transfer-Encoding"), bytes.NewReader(body))
	switch {
	case strings.HasPrefix(ct, "multipart/") && params["boundary"] != "" && depth < maxViewDepth:
		parts, closed := splitMultipart(body, params["boundary"])
		for i, p := range parts {
			pnum := strconv.Itoa(i + 1)
			if num != "" {
				pnum = num + "." + pnum
			}
			raw, pbody := splitHeader(p)
			ph := parseHeader(raw)
			pct := ph.Get("Content-Type")
			if pct == "" {
				pct = "text/plain"
			}
			v.line("%s", banner(fmt.Sprintf("part %s: %s", pnum, Safe(pct))))
			v.part(ph, pbody, depth+1, pnum)
		}
		if !closed {
			v.line("[multipart without its closing boundary]")
		}
	case ct == "message/rfc822" && depth < maxViewDepth:
		inner, err := io.ReadAll(decoded)
		if err != nil {
			v.line("[cannot decode this part: %s]", Safe(err.Error()))
		}
		v.message(inner, depth+1, num)
	case strings.HasPrefix(ct, "text/"):
		if err := v.text(decoded); err != nil {
			v.line("[cannot decode the rest of this part: %s]", Safe(err.Error()))
		}
	default:
		n, err := io.Copy(io.Discard, decoded)
		v.line("[%s part%s, %d bytes]", Safe(ct), partName(h, params), n)
		if err != nil {
			v.line("[cannot decode this part: %s]", Safe(err.Error()))
		}
	}
}

// partName describes a part's file name, if it has one.
func partName(h textproto.MIMEHeader, params map[string]string) string {
	name := params["name"]
	if _, dp, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil && dp["filename"] != "" {
		name = dp["filename"]
	}
	if name == "" {
		return ""
	}
	return ` "` + Safe(name) + `"`
}

// decode undoes a Content-Transfer-Encoding.
func decode(cte string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &base64Cleaner{r: r})
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// base64Cleaner drops what base64.NewDecoder does not skip by itself:
// blanks and anything else outside the alphabet, as mail readers do.
type base64Cleaner struct{ r io.Reader }

func (c *base64Cleaner) Read(p []byte) (int, error) {
	for {
		n, err := c.r.Read(p)
		j := 0
		for _, b := range p[:n] {
			if b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '+' || b == '/' || b == '=' {
				p[j] = b
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// nextLine returns the line of b starting at i, without its LF or CRLF,
// and the index of the next line.
func nextLine(b []byte, i int) (line []byte, next int) {
	j := bytes.IndexByte(b[i:], '\n')
	if j < 0 {
		return b[i:], len(b)
	}
	return bytes.TrimSuffix(b[i:i+j], []byte("\r")), i + j + 1
}

// splitHeader cuts a message or part after the empty line that ends its
// header block; without one, it is all header.
func splitHeader(b []byte) (header, body []byte) {
	for i := 0; i < len(b); {
		line, next := nextLine(b, i)
		if len(line) == 0 {
			return b[:next], b[next:]
		}
		i = next
	}
	return b, nil
}

// splitMultipart cuts a multipart body at its boundary lines (RFC 2046
// 5.1.1: "--" boundary at the start of a line, "--" boundary "--" to close,
// either followed only by blanks; the line break before a boundary line
// belongs to it). The preamble and epilogue are left out. It reports
// whether the closing boundary was found.
func splitMultipart(body []byte, boundary string) (parts [][]byte, closed bool) {
	delim := []byte("--" + boundary)
	start := -1 // start of the current part
	for i := 0; i < len(body); {
		line, next := nextLine(body, i)
		if rest, ok := bytes.CutPrefix(line, delim); ok {
			last := bytes.HasPrefix(rest, []byte("--"))
			if last {
				rest = rest[2:]
			}
			if len(bytes.TrimRight(rest, " \t")) == 0 {
				if start >= 0 {
					end := max(i-1, start) // before the LF ending the previous line
					if end > start && body[end-1] == '\r' {
						end--
					}
					parts = append(parts, body[start:end])
				}
				if last {
					return parts, true
				}
				start = next
			}
		}
		i = next
	}
	if start >= 0 && start < len(body) {
		parts = append(parts, body[start:])
	}
	return parts, false
}

// parseHeader reads the fields of a raw header block. It is lenient, as a
// view of hostile mail must be: lines without a colon are skipped, and
// values may hold any byte (net/textproto refuses control characters, which
// are exactly what a hostile message carries).
func parseHeader(raw []byte) textproto.MIMEHeader {
	h := textproto.MIMEHeader{}
	var key string
	var val []byte
	flush := func() {
		if key != "" {
			h.Add(key, string(bytes.TrimSpace(val)))
		}
		key, val = "", nil
	}
	for _, line := range bytes.Split(raw, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if key != "" {
				val = append(append(val, ' '), bytes.TrimSpace(line)...)
			}
			continue
		}
		flush()
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		key = textproto.CanonicalMIMEHeaderKey(string(bytes.TrimSpace(k)))
		val = append(val, v...)
	}
	flush()
	return h
}
