package mime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/jhillyerd/enmime/v2/mediatype"
)

// maxProblems caps Result.Problems; a hostile message can be malformed in
// every line.
const maxProblems = 100

// maxBoundary caps the length of a multipart boundary. RFC 2046 allows 70
// characters; a longer one is not honoured and its part is read as text.
const maxBoundary = 4 << 10

// rootBufSize is the read buffer for the message itself; nested entities
// use smaller ones.
const (
	rootBufSize   = 16 << 10
	entityBufSize = 4 << 10
)

// walker holds the state of one Split.
type walker struct {
	opt     Options
	lim     Limits
	res     *Result
	parts   int    // MIME entities and uuencoded files seen
	members int    // archive members seen
	decoded int64  // decoded bytes so far
	files   int    // files written to Options.Dir
	limit   error  // the first limit hit, kept even if a library swallows it
	dropped int    // problems not kept
	copyBuf []byte // shared by copies, which never nest
	names   nameDecoder
}

// copy is io.Copy with the walker's buffer.
func (w *walker) copy(dst io.Writer, src io.Reader) (int64, error) {
	if w.copyBuf == nil {
		w.copyBuf = make([]byte, 16<<10)
	}
	return io.CopyBuffer(dst, src, w.copyBuf)
}

func newWalker(opt Options) *walker {
	return &walker{opt: opt, lim: opt.Limits.withDefaults(), res: &Result{}}
}

// problem notes malformed input at where.
func (w *walker) problem(where, format string, args ...any) {
	if len(w.res.Problems) >= maxProblems {
		w.dropped++
		return
	}
	if len(w.res.Problems) == maxProblems-1 {
		w.res.Problems = append(w.res.Problems, "further problems not recorded")
		w.dropped++
		return
	}
	w.res.Problems = append(w.res.Problems, where+": "+fmt.Sprintf(format, args...))
}

// fail records the first limit hit and returns it.
func (w *walker) fail(limit string, max, seen int64) error {
	if w.limit == nil {
		w.limit = &LimitError{Limit: limit, Max: max, Seen: seen}
	}
	return w.limit
}

// count adds n decoded bytes to the total.
func (w *walker) count(n int) error {
	w.decoded += int64(n)
	if w.decoded > w.lim.MaxDecodedBytes {
		return w.fail(LimitDecodedBytes, w.lim.MaxDecodedBytes, w.decoded)
	}
	return nil
}

// addPart counts a new part and appends it to the result.
func (w *walker) addPart(p Part) (int, error) {
	w.parts++
	if w.parts > w.lim.MaxParts {
		return -1, w.fail(LimitParts, int64(w.lim.MaxParts), int64(w.parts))
	}
	w.res.Parts = append(w.res.Parts, p)
	return len(w.res.Parts) - 1, nil
}

// message walks the top level message.
func (w *walker) message(r io.Reader) error {
	err := w.entity(bufio.NewReaderSize(r, rootBufSize), 0, "message", "text/plain")
	if w.limit != nil {
		return w.limit
	}
	return err
}

// entity walks one MIME entity: a header block and its body.
func (w *walker) entity(r io.Reader, depth int, where, defaultType string) error {
	if depth > w.lim.MaxDepth {
		return w.fail(LimitDepth, int64(w.lim.MaxDepth), int64(depth))
	}
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, entityBufSize)
	}
	block, pushback, err := w.readHeaderBlock(br, where, depth == 0)
	if err != nil {
		return err
	}
	hdr := w.parseHeader(block, where)
	var body io.Reader = br
	if pushback != nil {
		body = io.MultiReader(bytes.NewReader(pushback), br)
	}

	ctype, boundary := w.contentType(hdr, defaultType, where)
	cte := transferEncoding(hdr)
	raw, names := w.partNames(hdr, where)
	container := func() error {
		if len(raw) == 0 {
			w.parts++
			if w.parts > w.lim.MaxParts {
				return w.fail(LimitParts, int64(w.lim.MaxParts), int64(w.parts))
			}
			return nil
		}
		_, err := w.addPart(Part{ContentType: ctype, RawNames: raw, Names: names, Origin: OriginMIME})
		return err
	}

	switch {
	case strings.HasPrefix(ctype, "multipart/"):
		switch {
		case boundary == "":
			w.problem(where, "%s without a boundary, read as text", ctype)
		case len(boundary) > maxBoundary:
			w.problem(where, "boundary longer than %d bytes, read as text", maxBoundary)
		default:
			if err := container(); err != nil {
				return err
			}
			if !identityEncoding(cte) {
				w.problem(where, "%s with Content-Transfer-Encoding %q, encoding ignored", ctype, cte)
			}
			childType := "text/plain"
			if ctype == "multipart/digest" {
				childType = "message/rfc822"
			}
			return w.multipart(body, boundary, depth, where, childType)
		}
		return w.leaf(body, "text/plain", cte, raw, names, where)
	case ctype == "message/rfc822" || ctype == "message/global":
		if err := container(); err != nil {
			return err
		}
		if !identityEncoding(cte) {
			w.problem(where, "%s with Content-Transfer-Encoding %q, decoded", ctype, cte)
		}
		dec, finish := w.decoder(body, cte)
		err := w.entity(dec, depth+1, where+".1", "text/plain")
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, dec); err != nil {
			return err
		}
		finish(where)
		return nil
	}
	return w.leaf(body, ctype, cte, raw, names, where)
}

// leaf decodes the body of a part that holds content.
func (w *walker) leaf(body io.Reader, ctype, cte string, raw, names []string, where string) error {
	idx, err := w.addPart(Part{ContentType: ctype, RawNames: raw, Names: names, Origin: OriginMIME})
	if err != nil {
		return err
	}
	s, err := w.newSink(idx, archiveHint(names), where)
	if err != nil {
		return err
	}
	s.tnef = true
	if strings.HasPrefix(ctype, "text/") || isUuencoding(cte) {
		s.uu = &uuScanner{w: w, where: where}
	}
	dec, finish := w.decoder(body, cte)
	_, err = w.copy(s, dec)
	finish(where)
	if err2 := s.finish(err == nil); err == nil {
		err = err2
	}
	return err
}

// multipart walks the body of a multipart entity (RFC 2046 section 5.1).
func (w *walker) multipart(body io.Reader, boundary string, depth int, where, childType string) error {
	pr := newPartReader(body, boundary)
	if err := w.scanLoose(pr, where+" preamble"); err != nil {
		return err
	}
	n := 0
	for pr.next() {
		n++
		child := where + "." + strconv.Itoa(n)
		if where == "message" {
			child = strconv.Itoa(n)
		}
		if err := w.entity(pr, depth+1, child, childType); err != nil {
			return err
		}
	}
	if pr.err != nil {
		return pr.err
	}
	switch {
	case n == 0:
		w.problem(where, "no part found for boundary %q", boundary)
	case pr.state != secClosed:
		w.problem(where, "closing boundary %q missing", boundary)
	}
	if pr.state == secClosed {
		return w.scanLoose(pr.br, where+" epilogue")
	}
	return nil
}

// scanLoose reads text outside any part (a preamble or an epilogue) looking
// for uuencoded files, which some clients decode wherever they appear.
func (w *walker) scanLoose(r io.Reader, where string) error {
	uu := &uuScanner{w: w, where: where}
	if _, err := w.copy(uu, r); err != nil {
		return err
	}
	return uu.close()
}

// readHeaderBlock reads the header block at the start of br, up to and
// including the blank line that ends it. When a line that cannot be a
// header field comes first, the block ends there and the line is returned
// as pushback: it is the first line of the body.
func (w *walker) readHeaderBlock(br *bufio.Reader, where string, top bool) (block, pushback []byte, err error) {
	max := w.lim.MaxHeaderBytes
	first := true
	for {
		start := len(block)
		var seen int
		block, seen, err = appendLine(block, br, max)
		if err == errLineTooLong {
			return nil, nil, w.fail(LimitHeaderBytes, int64(max), int64(seen))
		}
		if err != nil && err != io.EOF {
			return nil, nil, err
		}
		line := block[start:]
		if len(line) == 0 {
			return block, nil, nil
		}
		trimmed := bytes.TrimRight(line, "\r\n")
		switch {
		case len(trimmed) == 0:
			return block[:start], nil, nil
		case first && top && bytes.HasPrefix(line, []byte("From ")):
			// An mbox separator line, not part of the message.
			block = block[:start]
		case line[0] == ' ' || line[0] == '\t' || isHeaderField(trimmed):
		default:
			w.problem(where, "header block not ended by a blank line")
			return block[:start], bytes.Clone(line), nil
		}
		first = false
		if err == io.EOF {
			return block, nil, nil
		}
	}
}

var errLineTooLong = errors.New("mime: line too long")

// appendLine appends one line, its end included, to dst, failing with
// errLineTooLong once dst would grow beyond limit; seen is then the size it
// would have grown to. At the end of input it appends what is left and
// returns io.EOF.
func appendLine(dst []byte, br *bufio.Reader, limit int) (out []byte, seen int, err error) {
	for {
		line, err := br.ReadSlice('\n')
		if len(dst)+len(line) > limit {
			return dst, len(dst) + len(line), errLineTooLong
		}
		if len(dst)+len(line) > cap(dst) {
			// Double: append grows large slices by a quarter, which for a
			// header of a megabyte allocates five times its size.
			grown := make([]byte, len(dst), max(2*cap(dst), len(dst)+len(line), 512))
			copy(grown, dst)
			dst = grown
		}
		dst = append(dst, line...)
		if err != bufio.ErrBufferFull {
			return dst, len(dst), err
		}
	}
}

// isHeaderField reports whether line starts with a field name and a colon
// (RFC 5322 section 2.2), allowing white space before the colon.
func isHeaderField(line []byte) bool {
	name, _, ok := bytes.Cut(line, []byte(":"))
	return ok && fieldName(bytes.TrimRight(name, " \t"))
}

// parseHeader parses the Content-* fields of a header block.
func (w *walker) parseHeader(block []byte, where string) textproto.MIMEHeader {
	block = contentFields(block)
	if len(block) == 0 {
		return textproto.MIMEHeader{}
	}
	return w.readHeader(block, where)
}

// contentFields returns the lines of the Content-* fields of a header
// block (RFC 2045 section 9: the MIME fields all start with "Content-"),
// continuation lines included. The other fields do not matter here and can
// be large.
func contentFields(block []byte) []byte {
	var out []byte
	keep := false
	for len(block) > 0 {
		line := block
		if i := bytes.IndexByte(block, '\n'); i >= 0 {
			line = block[:i+1]
		}
		block = block[len(line):]
		if line[0] != ' ' && line[0] != '\t' {
			keep = len(line) >= 8 && bytes.EqualFold(line[:8], []byte("content-"))
		}
		if keep {
			out = append(out, line...)
		}
	}
	return out
}

// contentType returns the media type (lower case) and boundary of an
// entity. Without a usable Content-Type the default applies (RFC 2045
// section 5.2).
func (w *walker) contentType(hdr textproto.MIMEHeader, def, where string) (ctype, boundary string) {
	vals := hdr["Content-Type"]
	if len(vals) == 0 {
		return def, ""
	}
	if len(vals) > 1 {
		w.problem(where, "%d Content-Type fields, the first one is used", len(vals))
	}
	v := vals[0]
	token, params := scanParams(v, "boundary")
	if len(v) <= maxStrictParse {
		if mt, p, _, err := mediatype.Parse(v); err == nil && mt != "" {
			ctype = strings.ToLower(mt)
			boundary = p["boundary"]
		}
	}
	if ctype == "" {
		ctype = token
	}
	if boundary == "" {
		for _, p := range params {
			if p.attr == "boundary" && p.section < 0 && p.value != "" {
				boundary = p.value
				break
			}
		}
	}
	if i := strings.IndexByte(ctype, '/'); i <= 0 || i == len(ctype)-1 {
		w.problem(where, "malformed Content-Type %q, read as %s", v, def)
		return def, ""
	}
	return ctype, boundary
}

// transferEncoding returns the Content-Transfer-Encoding token, lower case.
func transferEncoding(hdr textproto.MIMEHeader) string {
	v := strings.TrimSpace(hdr.Get("Content-Transfer-Encoding"))
	if i := strings.IndexAny(v, " \t;("); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(v)
}

func identityEncoding(cte string) bool {
	switch cte {
	case "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

func isUuencoding(cte string) bool {
	switch cte {
	case "x-uuencode", "uuencode", "x-uue", "uue":
		return true
	}
	return false
}

// decoder returns the body decoded by its Content-Transfer-Encoding, and a
// function that notes, once the body is read, what the decoder skipped.
// Uuencoded bodies are passed through: the uuencode scanner of the part
// decodes them into parts of their own.
func (w *walker) decoder(body io.Reader, cte string) (io.Reader, func(where string)) {
	switch {
	case cte == "base64":
		d := newB64Reader(body)
		return d, func(where string) {
			if d.junk {
				w.problem(where, "characters outside the base64 alphabet skipped")
			}
			if d.odd {
				w.problem(where, "base64 with a truncated quantum")
			}
		}
	case cte == "quoted-printable":
		d := newQPReader(body)
		return d, func(where string) {
			if d.bad {
				w.problem(where, "malformed quoted-printable escape kept as it is")
			}
		}
	case identityEncoding(cte), isUuencoding(cte):
		return body, func(string) {}
	}
	return body, func(where string) {
		w.problem(where, "unknown Content-Transfer-Encoding %q, read as it is", cte)
	}
}

// partNames returns the raw and normalised name candidates of an entity.
func (w *walker) partNames(hdr textproto.MIMEHeader, where string) (raw, names []string) {
	var cands []string
	for _, v := range hdr["Content-Disposition"] {
		cands = w.names.headerNames(cands, v)
	}
	for _, v := range hdr["Content-Type"] {
		cands = w.names.headerNames(cands, v)
	}
	if w.names.skipped {
		w.problem(where, "more than %d charset conversions: names left in their charset", maxConversions)
		w.names.skipped = false
	}
	if w.names.unknown != "" {
		w.problem(where, "unknown charset %.40q: name left in its bytes", w.names.unknown)
		w.names.unknown = ""
	}
	for _, c := range cands {
		if c != "" && !contains(raw, c) {
			raw = append(raw, c)
		}
	}
	for _, c := range raw {
		if n := Normalize(c); n != "" && !contains(names, n) {
			names = append(names, n)
		}
	}
	return raw, names
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
