package mime

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
)

// Content-Transfer-Encoding decoders (RFC 2045 section 6). Both are lenient
// in the way mail clients are: what cannot be decoded is skipped or passed
// through and noted, never a reason to stop reading the part.

// b64Reader decodes base64 while skipping everything outside the alphabet.
// Padding ends a quantum; decoding goes on after it, so that concatenated
// base64 bodies decode as a whole.
type b64Reader struct {
	src  io.Reader
	buf  []byte // raw input; buf[:nq] holds clean characters carried over
	nq   int
	out  []byte // decoded bytes not yet returned
	dst  []byte // backing store of out
	junk bool   // characters outside the alphabet were skipped
	odd  bool   // a quantum had a single character, which carries no byte
	err  error
}

const b64BufSize = 16 << 10

func newB64Reader(src io.Reader) *b64Reader {
	return &b64Reader{
		src: src,
		buf: make([]byte, b64BufSize),
		dst: make([]byte, 0, b64BufSize/4*3+3),
	}
}

// b64Class tells for each byte: 1 alphabet, 2 padding, 3 white space, 0 junk.
var b64Class = func() (t [256]byte) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") {
		t[c] = 1
	}
	t['='] = 2
	for _, c := range []byte(" \t\r\n\f\v") {
		t[c] = 3
	}
	return t
}()

func (d *b64Reader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		d.fill()
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

// fill reads one chunk of input and decodes what it can.
func (d *b64Reader) fill() {
	d.dst = d.dst[:0]
	n, err := d.src.Read(d.buf[d.nq:])
	if !d.fillClean(n) {
		d.fillAny(n)
	}
	if err != nil {
		d.flush(d.buf[:d.nq])
		d.nq = 0
		d.err = err
	}
	d.out = d.dst
}

// fillClean decodes a chunk of n bytes that holds only the alphabet and
// line ends, as nearly every base64 body does, with encoding/base64 (which
// skips CR and LF) and returns true. For any other chunk it returns false
// having changed nothing, and fillAny reads it.
func (d *b64Reader) fillClean(n int) bool {
	s := d.buf[:d.nq+n]
	if bytes.IndexByte(s[d.nq:], '=') >= 0 {
		return false
	}
	clean := len(s) - bytes.Count(s, newline) - bytes.Count(s, cr)
	// Keep the characters short of a whole quantum for the next chunk.
	var tail [3]byte
	nt := clean % 4
	cut := len(s)
	for k := nt; k > 0; {
		cut--
		switch c := s[cut]; b64Class[c] {
		case 1:
			k--
			tail[k] = c
		case 3:
			if c != '\r' && c != '\n' {
				return false
			}
		default:
			return false
		}
	}
	m, err := base64.StdEncoding.Decode(d.dst[:cap(d.dst)], s[:cut])
	if err != nil {
		return false
	}
	d.dst = d.dst[:m]
	d.nq = copy(d.buf, tail[:nt])
	return true
}

var newline, cr = []byte("\n"), []byte("\r")

// fillAny decodes a chunk of n bytes, skipping what is outside the
// alphabet.
func (d *b64Reader) fillAny(n int) {
	w := d.nq
	for _, c := range d.buf[d.nq : d.nq+n] {
		switch b64Class[c] {
		case 1:
			d.buf[w] = c
			w++
		case 2:
			d.flush(d.buf[:w])
			w = 0
		case 0:
			d.junk = true
		}
	}
	full := w - w%4
	d.flush(d.buf[:full])
	d.nq = copy(d.buf, d.buf[full:w])
}

// flush decodes clean characters; a trailing group of two or three
// characters is decoded as an unpadded quantum, a single one is dropped.
func (d *b64Reader) flush(q []byte) {
	if len(q)%4 == 1 {
		q = q[:len(q)-1]
		d.odd = true
	}
	if len(q) == 0 {
		return
	}
	start := len(d.dst)
	need := base64.RawStdEncoding.DecodedLen(len(q))
	if cap(d.dst)-start < need {
		grown := make([]byte, start, start+need+len(d.buf))
		copy(grown, d.dst)
		d.dst = grown
	}
	m, _ := base64.RawStdEncoding.Decode(d.dst[start:start+need], q)
	d.dst = d.dst[:start+m]
}

// qpReader decodes quoted-printable. "=XX" is a byte, "=" at the end of a
// line joins it to the next, trailing white space is dropped, and an "="
// that starts neither is kept as it is.
type qpReader struct {
	br    *bufio.Reader
	carry []byte // undecoded tail of a line longer than the buffer
	out   []byte // decoded bytes not yet returned
	dst   []byte // backing store of out
	bad   bool   // an "=" that is not an escape was kept literally
	err   error
}

func newQPReader(src io.Reader) *qpReader {
	return &qpReader{br: bufio.NewReaderSize(src, 4096)}
}

func (d *qpReader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		d.fill()
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

func (d *qpReader) fill() {
	line, err := d.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		err = nil
	}
	d.err = err
	var in []byte
	if len(d.carry) > 0 {
		in = append(d.carry, line...)
		d.carry = nil
	} else {
		in = line
	}
	out := d.dst[:0]
	eol := ""
	if n := len(in); n > 0 && in[n-1] == '\n' {
		in = in[:n-1]
		eol = "\n"
		if n := len(in); n > 0 && in[n-1] == '\r' {
			in = in[:n-1]
			eol = "\r\n"
		}
		for n := len(in); n > 0 && (in[n-1] == ' ' || in[n-1] == '\t'); n = len(in) {
			in = in[:n-1]
		}
		if n := len(in); n > 0 && in[n-1] == '=' {
			in = in[:n-1]
			eol = ""
		}
	} else if d.err == nil {
		// Mid-line: keep a possibly split escape for the next round.
		k := len(in)
		for i := len(in) - 1; i >= 0 && i >= len(in)-2; i-- {
			if in[i] == '=' {
				k = i
			}
		}
		d.carry = append([]byte(nil), in[k:]...)
		in = in[:k]
	}
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c == '=' {
			if i+2 < len(in) {
				if h, ok := unhex(in[i+1]); ok {
					if l, ok := unhex(in[i+2]); ok {
						out = append(out, h<<4|l)
						i += 2
						continue
					}
				}
			}
			d.bad = true
		}
		out = append(out, c)
	}
	d.dst = append(out, eol...)
	d.out = d.dst
}

// uuDecodeLine decodes one line of a uuencoded body (POSIX uuencode): the
// first character gives the byte count, then four characters carry three
// bytes. Short lines are padded, as lenient decoders do.
func uuDecodeLine(dst, line []byte) []byte {
	if len(line) == 0 {
		return dst
	}
	n := int((line[0] - ' ') & 63)
	line = line[1:]
	for n > 0 {
		var q [4]byte
		for i := range q {
			if i < len(line) {
				q[i] = (line[i] - ' ') & 63
			}
		}
		if len(line) >= 4 {
			line = line[4:]
		} else {
			line = nil
		}
		b := [3]byte{q[0]<<2 | q[1]>>4, q[1]<<4 | q[2]>>2, q[2]<<6 | q[3]}
		k := min(n, 3)
		dst = append(dst, b[:k]...)
		n -= k
	}
	return dst
}
