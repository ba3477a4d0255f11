package mime

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Archives are recognised by their first bytes: zip by a local file header
// or end of central directory signature (APPNOTE.TXT 4.3), gzip by its
// magic (RFC 1952), tar by "ustar" at offset 257 or, for old archives, a
// valid header checksum (POSIX pax). A part named *.zip or *.jar is tried
// as a zip as well, which catches zips with data in front of them.
//
// Every member of a zip and every gzip stream is decompressed in full through
// a meter: the bytes it yields count against Limits.MaxDecodedBytes, and once
// it has yielded more than ratioSlack, yielding more than Limits.MaxRatio
// times the compressed bytes actually consumed ends the walk. Declared sizes
// are never used. Tar members are not compressed; they are read only when
// they are archives themselves.

type archiveKind int

const (
	archiveNone archiveKind = iota
	archiveZip
	archiveGzip
	archiveTar
)

// ratioSlack is the output below which the ratio is not checked, so that
// small, very compressible files (a page of blanks) pass.
const ratioSlack = 1 << 20

// sniffArchive recognises an archive by its first bytes.
func sniffArchive(head []byte) archiveKind {
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")),
		bytes.HasPrefix(head, []byte("PK\x05\x06")),
		bytes.HasPrefix(head, []byte("PK\x07\x08")):
		return archiveZip
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return archiveGzip
	case isTarHeader(head):
		return archiveTar
	}
	return archiveNone
}

// isTarHeader checks a 512 byte tar header block.
func isTarHeader(b []byte) bool {
	if len(b) < 512 {
		return false
	}
	if bytes.Equal(b[257:262], []byte("ustar")) {
		return true
	}
	if b[0] == 0 {
		return false
	}
	field := strings.TrimRight(strings.TrimLeft(string(b[148:156]), " "), " \x00")
	want, err := strconv.ParseUint(field, 8, 32)
	if err != nil {
		return false
	}
	var sum uint64
	for i, c := range b[:512] {
		if 148 <= i && i < 156 {
			c = ' '
		}
		sum += uint64(c)
	}
	return sum == want
}

// archiveHint returns the archive kind normalised names suggest.
func archiveHint(names []string) archiveKind {
	for _, n := range names {
		if strings.HasSuffix(n, ".zip") || strings.HasSuffix(n, ".jar") {
			return archiveZip
		}
	}
	return archiveNone
}

// countMember counts one archive member against the limit.
func (w *walker) countMember() error {
	w.members++
	if w.members > w.lim.MaxArchiveMembers {
		return w.fail(LimitArchiveMembers, int64(w.lim.MaxArchiveMembers), int64(w.members))
	}
	return nil
}

// limitOr returns the limit hit, if any, else err.
func (w *walker) limitOr(err error) error {
	if w.limit != nil {
		return w.limit
	}
	return err
}

// inspect lists the members of content that may be an archive, at archive
// depth depth (1 for a part's own content).
func (w *walker) inspect(ra io.ReaderAt, size int64, depth int, hint archiveKind, where string) ([]Member, error) {
	head := make([]byte, min(size, sniffLen))
	n, _ := ra.ReadAt(head, 0)
	kind := sniffArchive(head[:n])
	if kind == archiveNone {
		kind = hint
	}
	if kind == archiveNone {
		return nil, nil
	}
	if depth > w.lim.MaxArchiveDepth {
		return nil, w.fail(LimitArchiveDepth, int64(w.lim.MaxArchiveDepth), int64(depth))
	}
	switch kind {
	case archiveZip:
		return w.zip(ra, size, depth, where)
	case archiveGzip:
		return w.gzip(io.NewSectionReader(ra, 0, size), depth, where)
	default:
		return w.tar(io.NewSectionReader(ra, 0, size), depth, where)
	}
}

// inspectStream is inspect for content that can only be read once, an
// archive member. When drain is set, content that is not an archive is read
// to its end all the same, so that it passes through the meters.
func (w *walker) inspectStream(r io.Reader, depth int, hint archiveKind, drain bool, where string) ([]Member, error) {
	br := bufio.NewReaderSize(r, 4096)
	head, _ := br.Peek(sniffLen)
	kind := sniffArchive(head)
	if kind == archiveNone {
		kind = hint
	}
	var members []Member
	var err error
	switch {
	case kind == archiveNone:
	case depth > w.lim.MaxArchiveDepth:
		return nil, w.fail(LimitArchiveDepth, int64(w.lim.MaxArchiveDepth), int64(depth))
	case kind == archiveZip:
		var c chunks
		if _, err = io.Copy(&c, br); err == nil {
			members, err = w.zip(&c, c.n, depth, where)
		}
		drain = false
	case kind == archiveGzip:
		members, err = w.gzip(br, depth, where)
	default:
		members, err = w.tar(br, depth, where)
	}
	if err == nil && drain {
		_, err = io.Copy(io.Discard, br)
	}
	return members, w.limitOr(err)
}

// meter counts what a decompressor yields and enforces MaxDecodedBytes and
// MaxRatio against in, the compressed bytes consumed so far. A tar member
// is read with raw set: its bytes are the archive's own, already counted,
// but the ratio still applies, against sparse file expansion.
type meter struct {
	w   *walker
	r   io.Reader
	in  func() int64
	out int64
	raw bool
}

func (m *meter) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	m.out += int64(n)
	if !m.raw {
		if e := m.w.count(n); e != nil {
			return n, e
		}
	}
	if m.out > ratioSlack {
		in := max(m.in(), 1)
		if m.out > int64(m.w.lim.MaxRatio)*in {
			return n, m.w.fail(LimitRatio, int64(m.w.lim.MaxRatio), m.out/in)
		}
	}
	return n, err
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r io.ReaderAt
	n int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

// zipDeclaredEntries returns the entry count the end of central directory
// record declares, to refuse an archive that would exceed the member limit
// before archive/zip builds its file list.
func zipDeclaredEntries(ra io.ReaderAt, size int64) (int, bool) {
	const eocdLen = 22
	tail := min(size, 0xffff+eocdLen)
	b := make([]byte, tail)
	n, _ := ra.ReadAt(b, size-tail)
	b = b[:n]
	i := bytes.LastIndex(b, []byte("PK\x05\x06"))
	if i < 0 || len(b)-i < eocdLen {
		return 0, false
	}
	count := binary.LittleEndian.Uint16(b[i+10:])
	if count == 0xffff {
		return 0, false // zip64: the count is elsewhere
	}
	return int(count), true
}

// zip lists the members of a zip archive (APPNOTE.TXT).
func (w *walker) zip(ra io.ReaderAt, size int64, depth int, where string) ([]Member, error) {
	if n, ok := zipDeclaredEntries(ra, size); ok && w.members+n > w.lim.MaxArchiveMembers {
		return nil, w.fail(LimitArchiveMembers, int64(w.lim.MaxArchiveMembers), int64(w.members+n))
	}
	cra := &countingReaderAt{r: ra}
	zr, err := zip.NewReader(cra, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		w.problem(where, "unreadable zip archive: %v", err)
		return nil, nil
	}
	var members []Member
	for _, f := range zr.File {
		if err := w.countMember(); err != nil {
			return members, err
		}
		if strings.HasSuffix(f.Name, "/") {
			continue // a directory
		}
		m := Member{RawName: f.Name, Name: Normalize(f.Name), Encrypted: f.Flags&0x41 != 0}
		if !m.Encrypted {
			err := w.zipMember(f, cra, &m, depth, where)
			if err != nil {
				return append(members, m), err
			}
		}
		members = append(members, m)
	}
	return members, nil
}

// zipMember decompresses one member through a meter.
func (w *walker) zipMember(f *zip.File, cra *countingReaderAt, m *Member, depth int, where string) error {
	rc, err := f.Open()
	if err != nil {
		w.problem(where, "zip member %q: %v", f.Name, err)
		return nil
	}
	defer rc.Close()
	start := cra.n
	mt := &meter{w: w, r: rc, in: func() int64 { return cra.n - start }}
	m.Members, err = w.inspectStream(mt, depth+1, archiveHint([]string{m.Name}), true, where)
	m.Size = mt.out
	if w.limit != nil {
		return w.limit
	}
	if err != nil {
		w.problem(where, "zip member %q: %v", f.Name, err)
	}
	return nil
}

// gzip lists the streams of gzip content (RFC 1952): each becomes a member
// named by the file name its header stores, holding what is inside.
func (w *walker) gzip(r io.Reader, depth int, where string) ([]Member, error) {
	cr := &countingReader{r: r}
	br := bufio.NewReader(cr)
	zr, err := gzip.NewReader(br)
	if err != nil {
		w.problem(where, "unreadable gzip data: %v", err)
		return nil, w.limitOr(nil)
	}
	var members []Member
	for {
		if err := w.countMember(); err != nil {
			return members, err
		}
		zr.Multistream(false)
		start := cr.n - int64(br.Buffered())
		mt := &meter{w: w, r: zr, in: func() int64 { return cr.n - int64(br.Buffered()) - start }}
		m := Member{RawName: zr.Name, Name: Normalize(zr.Name)}
		m.Members, err = w.inspectStream(mt, depth+1, archiveHint([]string{m.Name}), true, where)
		m.Size = mt.out
		members = append(members, m)
		if w.limit != nil {
			return members, w.limit
		}
		if err != nil {
			w.problem(where, "gzip stream: %v", err)
			return members, nil
		}
		if err := zr.Reset(br); err != nil {
			if err != io.EOF {
				w.problem(where, "data after the last gzip stream: %v", err)
			}
			return members, w.limitOr(nil)
		}
	}
}

// tar lists the members of a tar archive. Directories are left out.
func (w *walker) tar(r io.Reader, depth int, where string) ([]Member, error) {
	cr := &countingReader{r: r}
	tr := tar.NewReader(cr)
	var members []Member
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return members, w.limitOr(nil)
		}
		if err != nil {
			if w.limit != nil {
				return members, w.limit
			}
			w.problem(where, "tar archive: %v", err)
			return members, nil
		}
		if err := w.countMember(); err != nil {
			return members, err
		}
		switch hdr.Typeflag {
		case tar.TypeDir, tar.TypeXGlobalHeader:
			continue
		}
		m := Member{RawName: hdr.Name, Name: Normalize(hdr.Name), Size: hdr.Size}
		start := cr.n
		mt := &meter{w: w, r: tr, in: func() int64 { return cr.n - start }, raw: true}
		m.Members, err = w.inspectStream(mt, depth+1, archiveHint([]string{m.Name}), false, where)
		members = append(members, m)
		if w.limit != nil {
			return members, w.limit
		}
		if err != nil {
			w.problem(where, "tar member %q: %v", hdr.Name, err)
			return members, nil
		}
	}
}

// chunks holds content kept for archive inspection. It grows by adding
// chunks, never by copying, so holding n bytes costs n bytes plus at most
// one chunk; archive/zip reads it through ReadAt.
type chunks struct {
	bufs   [][]byte
	starts []int64 // offset of each chunk
	n      int64
}

// maxChunk is the size chunks grow to, from 4 KiB by a factor of 4.
const maxChunk = 1 << 20

func (c *chunks) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := len(c.bufs) - 1
		if k < 0 || len(c.bufs[k]) == cap(c.bufs[k]) {
			size := 4 << 10
			if k >= 0 {
				size = min(cap(c.bufs[k])*4, maxChunk)
			}
			c.bufs = append(c.bufs, make([]byte, 0, size))
			c.starts = append(c.starts, c.n)
			k++
		}
		b := c.bufs[k]
		m := min(len(p), cap(b)-len(b))
		c.bufs[k] = append(b, p[:m]...)
		c.n += int64(m)
		p = p[m:]
	}
	return total, nil
}

func (c *chunks) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("mime: negative offset")
	}
	if off >= c.n {
		return 0, io.EOF
	}
	// The last chunk starting at or before off.
	k := sort.Search(len(c.starts), func(i int) bool { return c.starts[i] > off }) - 1
	n := 0
	for n < len(p) && k < len(c.bufs) {
		b := c.bufs[k][off-c.starts[k]:]
		m := copy(p[n:], b)
		n += m
		off += int64(m)
		k++
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
