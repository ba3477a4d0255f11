package mime

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Section states of a partReader.
const (
	secOpen   = iota // reading a section (the preamble or a part)
	secEnded         // a delimiter ended the section; another part follows
	secClosed        // the close delimiter ended the section
	secEOF           // the input ended
)

// partReader reads the sections of a multipart body one after the other
// (RFC 2046 section 5.1.1). A delimiter is "--boundary" at the start of a
// line followed by nothing but white space; the line end before it belongs
// to the delimiter, not to the part. A close delimiter is "--boundary--".
// It works line by line on the buffer of br, so memory does not depend on
// line length, and an inner multipart reading from a partReader stops at
// the outer boundary even when its own close delimiter is missing.
type partReader struct {
	br        *bufio.Reader
	delim     []byte
	rest      []byte  // unread bytes of the current line, inside br's buffer
	eol       [2]byte // line end held back until the next line is known
	neol      int
	lineStart bool
	state     int
	err       error
}

func newPartReader(r io.Reader, boundary string) *partReader {
	return &partReader{
		br:        bufio.NewReaderSize(r, max(entityBufSize, len(boundary)+512)),
		delim:     []byte("--" + boundary),
		lineStart: true,
		state:     secOpen,
	}
}

func (pr *partReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(pr.rest) > 0 {
			c := copy(p[n:], pr.rest)
			pr.rest = pr.rest[c:]
			n += c
			continue
		}
		if pr.state != secOpen {
			break
		}
		if pr.lineStart {
			if pr.atDelimiter() {
				break
			}
			pr.lineStart = false
			if pr.neol > 0 {
				pr.rest = pr.eol[:pr.neol]
				pr.neol = 0
				continue
			}
		}
		line, err := pr.br.ReadSlice('\n')
		if k := len(line); k > 0 && line[k-1] == '\n' {
			e := 1
			if k >= 2 && line[k-2] == '\r' {
				e = 2
			}
			copy(pr.eol[:], line[k-e:])
			pr.neol = e
			pr.rest = line[:k-e]
			pr.lineStart = true
		} else {
			pr.rest = line
		}
		if err != nil && err != bufio.ErrBufferFull {
			if err != io.EOF {
				pr.err = err
			}
			pr.state = secEOF
		}
	}
	if n > 0 {
		return n, nil
	}
	if pr.err != nil {
		return 0, pr.err
	}
	return 0, io.EOF
}

// atDelimiter reports whether a delimiter line starts here; if so it
// consumes the line and ends the section.
func (pr *partReader) atDelimiter() bool {
	k := len(pr.delim)
	b, _ := pr.br.Peek(k)
	if len(b) < k || !bytes.Equal(b, pr.delim) {
		return false
	}
	if b, _ = pr.br.Peek(k + 2); len(b) == k+2 && b[k] == '-' && b[k+1] == '-' {
		pr.endSection(secClosed)
		return true
	}
	for {
		b, _ = pr.br.Peek(k + 1)
		if len(b) <= k {
			break // the input ends after the delimiter
		}
		c := b[k]
		if c == ' ' || c == '\t' {
			k++
			if k+1 > pr.br.Size() {
				break // padding as long as the buffer: take it as a delimiter
			}
			continue
		}
		if c == '\n' {
			break
		}
		if c == '\r' {
			if b, _ = pr.br.Peek(k + 2); len(b) == k+1 || b[k+1] == '\n' {
				break
			}
		}
		return false
	}
	pr.endSection(secEnded)
	return true
}

// endSection consumes the rest of the delimiter line.
func (pr *partReader) endSection(state int) {
	for {
		_, err := pr.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && err != io.EOF {
			pr.err = err
		}
		break
	}
	pr.neol = 0
	pr.rest = nil
	pr.state = state
}

// next skips what is left of the current section and reports whether
// another part follows.
func (pr *partReader) next() bool {
	if pr.state == secOpen {
		if _, err := io.Copy(io.Discard, pr); err != nil {
			return false
		}
	}
	if pr.state != secEnded || pr.err != nil {
		return false
	}
	pr.state = secOpen
	pr.lineStart = true
	return true
}

// sniffLen is how much of a part is looked at to recognise an archive.
const sniffLen = 512

// sink receives the decoded body of one part: it counts it, writes it to
// Options.Dir, keeps it when it may be an archive or a TNEF stream, and
// feeds text to the uuencode scanner.
type sink struct {
	w       *walker
	idx     int
	where   string
	size    int64
	f       *os.File
	fw      *bufio.Writer
	hint    archiveKind // what the names suggest
	tnef    bool        // a TNEF stream in this part is unwrapped
	decided bool        // whether the content is kept has been decided
	keep    bool        // content kept in buf for inspection
	head    []byte      // the first sniffLen bytes, until decided
	buf     *chunks
	uu      *uuScanner
}

func (w *walker) newSink(idx int, hint archiveKind, where string) (*sink, error) {
	s := &sink{w: w, idx: idx, where: where, hint: hint}
	if w.opt.Dir != "" {
		w.files++
		name := fmt.Sprintf("part-%04d", w.files)
		f, err := os.OpenFile(filepath.Join(w.opt.Dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		s.f = f
		s.fw = bufio.NewWriterSize(f, 32<<10)
		w.res.Parts[idx].File = name
		// The file is read back: nothing needs to be kept in memory.
		s.decided = true
	}
	return s, nil
}

func (s *sink) Write(p []byte) (int, error) {
	if err := s.w.count(len(p)); err != nil {
		return 0, err
	}
	s.size += int64(len(p))
	if s.fw != nil {
		if _, err := s.fw.Write(p); err != nil {
			return 0, err
		}
	}
	switch {
	case s.keep:
		s.buf.Write(p)
	case !s.decided:
		taken := min(len(p), sniffLen-len(s.head))
		s.head = append(s.head, p[:taken]...)
		if len(s.head) == sniffLen {
			s.decide()
			if s.keep {
				s.buf.Write(p[taken:])
			}
		}
	}
	if s.uu != nil {
		if err := s.uu.write(p); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// decide settles, once the first bytes are known, whether the content is
// kept in memory for inspection.
func (s *sink) decide() {
	s.decided = true
	archive := s.w.opt.Archives && (s.hint != archiveNone || sniffArchive(s.head) != archiveNone)
	s.keep = archive || s.tnef && bytes.HasPrefix(s.head, tnefSignature)
	if s.keep {
		s.buf = &chunks{}
		s.buf.Write(s.head)
	}
}

// finish completes the part: the uuencode scanner is closed, the file
// flushed and closed, and a TNEF stream unwrapped or an archive inspected.
// With ok false (the body could not be read to its end) only the clean-up
// is done.
func (s *sink) finish(ok bool) error {
	var err error
	if s.uu != nil {
		if ok {
			err = s.uu.close()
		} else {
			s.uu.abort()
		}
	}
	if s.fw != nil {
		if e := s.fw.Flush(); err == nil {
			err = e
		}
	}
	if s.f != nil {
		defer s.f.Close()
	}
	s.w.res.Parts[s.idx].Size = s.size
	if err != nil || !ok || !s.tnef && !s.w.opt.Archives {
		return err
	}
	var ra io.ReaderAt
	head := s.head
	if s.f != nil {
		ra = s.f
		head = make([]byte, min(s.size, sniffLen))
		n, _ := s.f.ReadAt(head, 0)
		head = head[:n]
	} else {
		if !s.decided {
			s.decide()
		}
		if !s.keep {
			return nil
		}
		ra = s.buf
	}
	defer func() { s.buf = nil }()
	if s.tnef && bytes.HasPrefix(head, tnefSignature) {
		return s.w.tnef(io.NewSectionReader(ra, 0, s.size), s.where)
	}
	if !s.w.opt.Archives {
		return nil
	}
	members, err := s.w.inspect(ra, s.size, 1, s.hint, s.where)
	s.w.res.Parts[s.idx].Members = members
	return err
}

// uuScanner looks for uuencoded files in text, line by line: from a line
// "begin MODE NAME" to the line "end" (or, for "begin-base64", to "===="),
// each file becomes a Part of its own with Origin "uuencode".
type uuScanner struct {
	w     *walker
	where string
	line  []byte // the line being collected
	skip  bool   // skipping to the end of a line that cannot matter
	cur   *sink  // file being decoded
	b64   bool   // cur is a begin-base64 block
	tmp   []byte
}

// maxUULine caps the lines the scanner collects; uuencoded lines are 61
// characters, begin lines hold a mode and a name.
const maxUULine = 4 << 10

// Write lets a uuScanner take text from io.Copy.
func (u *uuScanner) Write(p []byte) (int, error) {
	if err := u.write(p); err != nil {
		u.abort()
		return 0, err
	}
	return len(p), nil
}

func (u *uuScanner) write(p []byte) error {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		complete := i >= 0
		if complete {
			seg, p = p[:i], p[i+1:]
		} else {
			p = nil
		}
		switch {
		case u.skip:
		case u.cur == nil && len(u.line) == 0 && len(seg) > 0 && seg[0] != 'b':
			// Cannot be a begin line.
			u.skip = true
		case len(u.line)+len(seg) > maxUULine:
			u.line = u.line[:0]
			u.skip = true
		default:
			u.line = append(u.line, seg...)
		}
		if complete {
			if !u.skip {
				if err := u.handle(bytes.TrimRight(u.line, "\r")); err != nil {
					return err
				}
			}
			u.line = u.line[:0]
			u.skip = false
		}
	}
	return nil
}

// close handles a last line without an end and finishes an open file.
func (u *uuScanner) close() error {
	if len(u.line) > 0 && !u.skip {
		if err := u.handle(bytes.TrimRight(u.line, "\r")); err != nil {
			u.abort()
			return err
		}
	}
	u.line = u.line[:0]
	if u.cur != nil {
		u.w.problem(u.where, "uuencoded file without an end line")
		cur := u.cur
		u.cur = nil
		return cur.finish(true)
	}
	return nil
}

// abort closes the file of an unfinished block after an error.
func (u *uuScanner) abort() {
	if u.cur != nil {
		u.cur.finish(false)
		u.cur = nil
	}
}

func (u *uuScanner) handle(line []byte) error {
	if u.cur == nil {
		name, b64, ok := parseBegin(line)
		if !ok {
			return nil
		}
		raw := []string{name}
		var names []string
		if n := Normalize(name); n != "" {
			names = []string{n}
		}
		idx, err := u.w.addPart(Part{ContentType: "application/octet-stream", RawNames: raw, Names: names, Origin: OriginUuencode})
		if err != nil {
			return err
		}
		s, err := u.w.newSink(idx, archiveHint(names), u.where)
		if err != nil {
			return err
		}
		u.cur, u.b64 = s, b64
		return nil
	}
	t := bytes.TrimSpace(line)
	if !u.b64 && string(t) == "end" || u.b64 && string(t) == "====" {
		cur := u.cur
		u.cur = nil
		return cur.finish(true)
	}
	u.tmp = u.tmp[:0]
	if u.b64 {
		t = bytes.TrimRight(t, "=")
		u.tmp = append(u.tmp, make([]byte, base64.RawStdEncoding.DecodedLen(len(t)))...)
		n, _ := base64.RawStdEncoding.Decode(u.tmp, t)
		u.tmp = u.tmp[:n]
	} else {
		u.tmp = uuDecodeLine(u.tmp, line)
	}
	if len(u.tmp) == 0 {
		return nil
	}
	_, err := u.cur.Write(u.tmp)
	return err
}

// parseBegin recognises "begin MODE NAME" and "begin-base64 MODE NAME",
// MODE being three or four octal digits.
func parseBegin(line []byte) (name string, b64, ok bool) {
	rest, found := bytes.CutPrefix(line, []byte("begin "))
	if !found {
		rest, found = bytes.CutPrefix(line, []byte("begin-base64 "))
		if !found {
			return "", false, false
		}
		b64 = true
	}
	rest = bytes.TrimLeft(rest, " ")
	i := 0
	for i < len(rest) && '0' <= rest[i] && rest[i] <= '7' {
		i++
	}
	if i < 3 || i > 4 || i == len(rest) || rest[i] != ' ' {
		return "", false, false
	}
	n := bytes.TrimSpace(rest[i:])
	if len(n) == 0 {
		return "", false, false
	}
	return string(n), b64, true
}
