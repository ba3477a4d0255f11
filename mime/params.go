package mime

import (
	"bytes"
	"errors"
	"io"
	stdmime "mime"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jhillyerd/enmime/v2/mediatype"
)

// Attachment names hide in header parameters (RFC 2045 section 5.1,
// RFC 2183, RFC 2231), and an attacker gains when the scanner and the
// recipient's client read a parameter differently. So names are collected
// from two readings and the union is kept:
//
//   - enmime's mediatype.Parse, a tolerant front end to Go's
//     mime.ParseMediaType: what a careful, standards-following client sees.
//   - scanParams below, a lenient scanner that keeps every occurrence of a
//     parameter, reads quoted strings both with and without backslash
//     escapes, splits unquoted values both at ';' and at white space, joins
//     RFC 2231 continuations both up to the first gap and all of them in
//     order, and decodes RFC 2231 values in any charset lookupCharset
//     knows.
//
// Both readings then have RFC 2047 encoded words decoded, which RFC 2047
// forbids inside parameters but which most clients decode anyway.

// nameDecoder decodes names for one Split. It counts the conversions
// from legacy charsets, each of which allocates a decoder: past
// maxConversions the bytes are kept as they are, which leaves the ASCII in
// a name (its extension) readable while a header stuffed with encoded
// words costs no more than a bounded amount of work.
type nameDecoder struct {
	conversions int
	skipped     bool   // conversions were skipped
	unknown     string // a charset that could not be converted
}

const maxConversions = 256

// nameParams are the parameters that carry a file name: RFC 2183 filename,
// the older Content-Type name, and "file", which some senders use. All are
// looked for in both Content-Type and Content-Disposition.
var nameParams = []string{"filename", "name", "file"}

// maxStrictParse caps the header values given to mediatype.Parse, whose
// repair pass is quadratic in the number of parameters. Longer values are
// read by scanParams only.
const maxStrictParse = 8 << 10

// param is one parameter as written in a header field.
type param struct {
	attr    string // lower case, without section number or '*'
	section int    // RFC 2231 section number, -1 when there is none
	ext     bool   // RFC 2231 extended value: charset'language'%XX
	value   string // unquoted value
}

// scanParams splits a header field value into its leading token (the media
// type or disposition, lower case) and every reading it can find of the
// parameters named in attrs. It never fails: whatever does not look like a
// parameter is skipped.
func scanParams(v string, attrs ...string) (token string, params []param) {
	// Count first: a hostile header holds tens of thousands of parameters,
	// and growing the slice by appending would allocate several times over.
	n := 0
	eachParam(v, attrs, func(param) { n++ })
	if n > 0 {
		params = make([]param, 0, n)
	}
	token = eachParam(v, attrs, func(p param) { params = append(params, p) })
	return token, params
}

// eachParam calls f for every reading of the parameters named in attrs and
// returns the leading token.
func eachParam(v string, attrs []string, f func(param)) (token string) {
	i := strings.IndexByte(v, ';')
	if i < 0 {
		return strings.ToLower(strings.TrimSpace(v))
	}
	token = strings.ToLower(strings.TrimSpace(v[:i]))
	v = v[i+1:]
	for len(v) > 0 {
		v = strings.TrimLeft(v, " \t\r\n;")
		if v == "" {
			break
		}
		eq := strings.IndexAny(v, "=;")
		if eq < 0 {
			break
		}
		if v[eq] == ';' {
			// A parameter without a value.
			v = v[eq+1:]
			continue
		}
		p := param{attr: strings.ToLower(strings.TrimSpace(v[:eq])), section: -1}
		if strings.HasSuffix(p.attr, "*") {
			p.ext = true
			p.attr = p.attr[:len(p.attr)-1]
		}
		if j := strings.LastIndexByte(p.attr, '*'); j >= 0 {
			if n, err := strconv.Atoi(p.attr[j+1:]); err == nil && n >= 0 {
				p.section = n
				p.attr = p.attr[:j]
			}
		}
		keep := contains(attrs, p.attr)
		v = strings.TrimLeft(v[eq+1:], " \t\r\n")
		var values [2]string
		nv := 1
		if strings.HasPrefix(v, `"`) {
			raw, unescaped, rest := scanQuoted(v[1:], keep)
			values[0] = unescaped
			if raw != unescaped {
				values[1] = raw
				nv = 2
			}
			// Skip whatever follows the closing quote up to the next ';'.
			if j := strings.IndexByte(rest, ';'); j >= 0 {
				rest = rest[j:]
			} else {
				rest = ""
			}
			v = rest
		} else {
			end := strings.IndexByte(v, ';')
			if end < 0 {
				end = len(v)
			}
			val := strings.TrimSpace(v[:end])
			values[0] = val
			if j := strings.IndexAny(val, " \t\r\n"); j > 0 {
				values[1] = val[:j]
				nv = 2
			}
			v = v[end:]
		}
		if !keep {
			continue
		}
		for _, val := range values[:nv] {
			p.value = val
			f(p)
		}
	}
	return token
}

// scanQuoted reads a quoted string whose opening quote is already consumed.
// It returns the content with quoted pairs resolved (RFC 5322), the content
// as a client that ignores backslash escapes reads it (up to the first
// quote, so that "C:\temp\x.exe" keeps its backslashes), and the rest after
// the closing quote of the first reading. An unterminated string runs to the
// end. Without build only the end of the string is looked for.
func scanQuoted(v string, build bool) (raw, unescaped, rest string) {
	var b []byte // built only once a backslash shows up
	rawEnd := -1
	escaped, sawEscape := false, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '"' && rawEnd < 0 {
			rawEnd = i
		}
		switch {
		case escaped:
			if build {
				b = append(b, c)
			}
			escaped = false
		case c == '\\':
			if !sawEscape && build {
				b = append(b, v[:i]...)
				sawEscape = true
			}
			escaped = true
		case c == '"':
			unescaped = v[:i]
			if sawEscape {
				unescaped = string(b)
			}
			return v[:rawEnd], unescaped, v[i+1:]
		case sawEscape && build:
			b = append(b, c)
		}
	}
	if rawEnd < 0 {
		rawEnd = len(v)
	}
	unescaped = v
	if sawEscape {
		unescaped = string(b)
	}
	return v[:rawEnd], unescaped, ""
}

// headerNames returns the decoded name candidates in one Content-Type or
// Content-Disposition value, appending to names.
func (d *nameDecoder) headerNames(names []string, value string) []string {
	if value == "" {
		return names
	}
	if len(value) <= maxStrictParse {
		if _, params, _, err := mediatype.Parse(value); err == nil {
			for _, attr := range nameParams {
				if v, ok := params[attr]; ok {
					names = d.appendDecodedWords(names, v)
				}
			}
		}
	}
	_, params := scanParams(value, nameParams...)
	for _, attr := range nameParams {
		names = d.appendParamValues(names, params, attr)
	}
	return names
}

// appendParamValues appends every reading of parameter attr in params.
func (d *nameDecoder) appendParamValues(names []string, params []param, attr string) []string {
	nsections := 0
	for _, p := range params {
		if p.attr == attr && p.section >= 0 {
			nsections++
		}
	}
	sections := make([]param, 0, nsections)
	for _, p := range params {
		if p.attr != attr {
			continue
		}
		switch {
		case p.section >= 0:
			sections = append(sections, p)
		case p.ext:
			if s, ok := d.decode2231(p.value); ok {
				names = append(names, s)
			} else {
				names = d.appendDecodedWords(names, p.value)
			}
		default:
			names = d.appendDecodedWords(names, p.value)
		}
	}
	if len(sections) == 0 {
		return names
	}
	sort.SliceStable(sections, func(i, j int) bool { return sections[i].section < sections[j].section })
	// Every section in order, and the run from section 0 up to the first
	// gap (as RFC 2231 readers that stop there see it).
	names = d.appendJoined(names, sections)
	run := 0
	for run < len(sections) && sections[run].section == run {
		run++
	}
	if run > 0 && run < len(sections) {
		names = d.appendJoined(names, sections[:run])
	}
	return names
}

// appendJoined joins RFC 2231 sections: extended sections are %-decoded
// bytes in the charset named by the first section, the others are taken
// literally.
func (d *nameDecoder) appendJoined(names []string, sections []param) []string {
	var b []byte
	charset := ""
	for i, p := range sections {
		v := p.value
		if p.ext {
			if i == 0 {
				cs, rest, ok := strings.Cut(v, "'")
				if ok {
					if _, rest2, ok := strings.Cut(rest, "'"); ok {
						charset, v = cs, rest2
					}
				}
			}
			b = append(b, percentDecode(v)...)
			continue
		}
		b = append(b, v...)
	}
	s := d.decodeCharset(charset, b)
	if strings.Contains(s, "=?") {
		return d.appendDecodedWords(names, s)
	}
	return append(names, s)
}

// decode2231 decodes an RFC 2231 extended value, charset'language'%XX.
func (d *nameDecoder) decode2231(v string) (string, bool) {
	charset, rest, ok := strings.Cut(v, "'")
	if !ok {
		return "", false
	}
	_, rest, ok = strings.Cut(rest, "'")
	if !ok {
		return "", false
	}
	return d.decodeCharset(charset, percentDecode(rest)), true
}

// percentDecode resolves %XX escapes; a '%' not followed by two hex digits
// is kept as it is.
func percentDecode(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if h, ok := unhex(s[i+1]); ok {
				if l, ok := unhex(s[i+2]); ok {
					b = append(b, h<<4|l)
					i += 2
					continue
				}
			}
		}
		b = append(b, s[i])
	}
	return b
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// appendDecodedWords appends s with RFC 2047 encoded words decoded. Go's
// word decoder is tried first; if it leaves encoded words behind, the
// lenient reading of decodeWordsLenient is added as a second one.
func (d *nameDecoder) appendDecodedWords(names []string, s string) []string {
	if !strings.Contains(s, "=?") {
		return append(names, s)
	}
	dec := stdmime.WordDecoder{CharsetReader: d.charsetReader}
	strict, err := dec.DecodeHeader(s)
	if err != nil {
		strict = s
	}
	names = append(names, strict)
	if strings.Contains(strict, "=?") && len(s) <= maxStrictParse {
		if lenient := d.decodeWordsLenient(s); lenient != strict {
			names = append(names, lenient)
		}
	}
	return names
}

var errUnknownCharset = errors.New("mime: unknown charset")

// charsetReader gives mime.WordDecoder every charset lookupCharset knows.
func (d *nameDecoder) charsetReader(charset string, r io.Reader) (io.Reader, error) {
	var b []byte
	if br, ok := r.(*bytes.Reader); ok {
		// What mime.WordDecoder passes: read it without io.ReadAll's
		// 512 byte start, which adds up over thousands of words.
		b = make([]byte, br.Len())
		br.Read(b)
	} else {
		var err error
		if b, err = io.ReadAll(r); err != nil {
			return nil, err
		}
	}
	s, ok := d.convertCharset(charset, b)
	if !ok {
		return nil, errUnknownCharset
	}
	return strings.NewReader(s), nil
}

// decodeCharset converts b from charset to UTF-8. When the charset is
// unknown the bytes are returned as they are; Normalize later turns what is
// not UTF-8 into U+FFFD.
func (d *nameDecoder) decodeCharset(charset string, b []byte) string {
	s, ok := d.convertCharset(charset, b)
	if !ok {
		return string(b)
	}
	return s
}

// convertCharset converts b from charset to UTF-8. It fails for a
// charset it does not know, which is noted for a problem.
func (d *nameDecoder) convertCharset(charset string, b []byte) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(charset)) {
	case "", "us-ascii", "ascii", "utf-8", "utf8":
		return string(b), true
	case "iso-8859-1", "latin1", "iso8859-1", "l1":
		return latin1(b), true
	}
	if d.conversions >= maxConversions {
		d.skipped = true
		return string(b), true
	}
	d.conversions++
	if isUTF7(charset) {
		return decodeUTF7(b), true
	}
	enc := lookupCharset(charset)
	if enc == nil {
		if d.unknown == "" {
			d.unknown = charset
		}
		return "", false
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return "", false
	}
	return string(out), true
}

// latin1 converts ISO-8859-1 bytes to UTF-8.
func latin1(b []byte) string {
	ascii := true
	for _, c := range b {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}
