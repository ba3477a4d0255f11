package mime

import (
	"encoding/base64"
	"strings"
)

// decodeWordsLenient decodes RFC 2047 encoded words the way lenient mail
// clients do, for the names Go's strict word decoder leaves encoded:
//
//   - white space inside a word (a word folded across lines, or written
//     with spaces) is removed;
//   - B text may lack its padding; in Q text an '=' not followed by two hex
//     digits is kept as it is;
//   - words in a charset that cannot be converted keep their bytes, so
//     the ASCII in them (an extension) stays readable;
//   - adjacent words separated only by white space are joined (RFC 2047
//     section 6.2), and the bytes of adjacent words in one charset are
//     converted together, so a character split across two words survives;
//   - what does not parse as a word is left as it is.
//
// Any charset is accepted, with an RFC 2231 language suffix ("utf-8*en").
func (d *nameDecoder) decodeWordsLenient(s string) string {
	var out strings.Builder
	out.Grow(len(s))
	var (
		pending []byte // decoded bytes of the current run of adjacent words
		charset string // their charset
		inRun   bool
	)
	flush := func() {
		if inRun {
			out.WriteString(d.decodeCharset(charset, pending))
			pending, inRun = pending[:0], false
		}
	}
	for {
		i := strings.Index(s, "=?")
		if i < 0 {
			break
		}
		cs, text, rest, ok := parseWord(s[i:])
		if !ok {
			flush()
			out.WriteString(s[:i+2])
			s = s[i+2:]
			continue
		}
		b, ok := decodeWordText(text)
		if !ok {
			flush()
			out.WriteString(s[:len(s)-len(rest)])
			s = rest
			continue
		}
		if inRun && (strings.Trim(s[:i], " \t\r\n") != "" || !strings.EqualFold(cs, charset)) {
			flush()
		}
		if !inRun {
			out.WriteString(s[:i])
		}
		charset, inRun = cs, true
		pending = append(pending, b...)
		s = rest
	}
	flush()
	out.WriteString(s)
	return out.String()
}

// parseWord reads the encoded word at the start of s ("=?charset?e?text?=")
// and returns its charset (without a language suffix), its encoding and
// text as one string ("B" or "Q", a '?', the text), and what follows it.
// White space anywhere inside the word is dropped.
func parseWord(s string) (charset, text, rest string, ok bool) {
	// The charset and encoding: short, and ended by '?'.
	s = s[2:]
	i := strings.IndexByte(s, '?')
	if i < 0 || i > 80 {
		return "", "", "", false
	}
	charset = stripSpace(s[:i])
	if j := strings.IndexByte(charset, '*'); j >= 0 {
		charset = charset[:j]
	}
	if charset == "" || !isCharsetName(charset) {
		return "", "", "", false
	}
	s = s[i+1:]
	i = strings.IndexByte(s, '?')
	if i < 0 || i > 8 {
		return "", "", "", false
	}
	enc := stripSpace(s[:i])
	if len(enc) != 1 || !strings.ContainsRune("BbQq", rune(enc[0])) {
		return "", "", "", false
	}
	s = s[i+1:]
	// The text, which holds no '?', and the closing "?=".
	i = strings.IndexByte(s, '?')
	if i < 0 || i+1 >= len(s) || s[i+1] != '=' {
		return "", "", "", false
	}
	return charset, enc + "?" + stripSpace(s[:i]), s[i+2:], true
}

// decodeWordText decodes the text of an encoded word as parseWord returns
// it.
func decodeWordText(t string) ([]byte, bool) {
	enc, text := t[0], t[2:]
	if enc == 'B' || enc == 'b' {
		b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(text, "="))
		return b, err == nil
	}
	b := make([]byte, 0, len(text))
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '_':
			c = ' '
		case c == '=' && i+2 < len(text):
			if h, ok := unhex(text[i+1]); ok {
				if l, ok := unhex(text[i+2]); ok {
					c = h<<4 | l
					i += 2
				}
			}
		}
		b = append(b, c)
	}
	return b, true
}

// stripSpace removes the white space in s.
func stripSpace(s string) string {
	if !strings.ContainsAny(s, " \t\r\n") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// isCharsetName reports whether s can be a charset name (RFC 2978 mime-
// charset, narrowed to what registered names use).
func isCharsetName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '_' || c == '.' || c == ':' || c == '+' || c == '(' || c == ')' || '0' <= c && c <= '9' || isASCIILetter(c)) {
			return false
		}
	}
	return true
}
