package mime

import (
	"encoding/base64"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
)

// Charsets are looked up by their WHATWG Encoding Standard labels
// (golang.org/x/text/encoding/htmlindex), which cover the names mail
// software writes, plus the aliases below that mail carries and browsers
// do not know, and UTF-7 (RFC 2152), which some mail clients still decode
// in headers and which htmlindex lacks.

// charsetAliases maps labels missing from the Encoding Standard to one it
// has.
var charsetAliases = map[string]string{
	"utf8mb4":      "utf-8",
	"iso8859_1":    "iso-8859-1",
	"iso646-us":    "windows-1252",
	"isowestern":   "windows-1252",
	"we8iso8859p1": "windows-1252",
	"cp936":        "gbk",
	"cp932":        "shift_jis",
	"136":          "big5",
	"238":          "windows-1250",
}

// lookupCharset returns the decoder for a charset label, or nil when the
// label is unknown. The Encoding Standard's "replacement" encoding, which
// turns all input into one U+FFFD, counts as unknown: the bytes as they
// are keep more of a name readable.
func lookupCharset(label string) encoding.Encoding {
	label = strings.ToLower(strings.TrimSpace(label))
	if a, ok := charsetAliases[label]; ok {
		label = a
	}
	switch label {
	case "cp850", "cp-850", "ibm850":
		return charmap.CodePage850
	}
	// "8859-2", "8859_2": the ISO name without its prefix.
	if rest, ok := strings.CutPrefix(label, "8859"); ok && len(rest) > 1 && (rest[0] == '-' || rest[0] == '_') {
		label = "iso-8859-" + rest[1:]
	}
	enc, err := htmlindex.Get(label)
	if err != nil || enc == encoding.Replacement {
		return nil
	}
	return enc
}

// isUTF7 reports whether label names UTF-7.
func isUTF7(label string) bool {
	label = strings.ToLower(strings.TrimSpace(label))
	return label == "utf-7" || label == "utf7" || label == "unicode-1-1-utf-7" || label == "csunicode11utf7"
}

// utf7Encoding is the base64 of RFC 2152: no padding.
var utf7Encoding = base64.StdEncoding.WithPadding(base64.NoPadding)

// decodeUTF7 converts UTF-7 (RFC 2152) to UTF-8. A '+' starts a run of
// modified base64 holding UTF-16 code units, which ends at the first byte
// outside the alphabet; a '-' ending it is dropped, and "+-" is a '+'.
// What cannot be decoded becomes U+FFFD.
func decodeUTF7(b []byte) string {
	var out strings.Builder
	out.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '+' {
			if c >= utf8.RuneSelf {
				out.WriteRune(utf8.RuneError)
			} else {
				out.WriteByte(c)
			}
			continue
		}
		j := i + 1
		for j < len(b) && isBase64Char(b[j]) {
			j++
		}
		run := b[i+1 : j]
		if len(run) == 0 && j < len(b) && b[j] == '-' {
			out.WriteByte('+')
			i = j
			continue
		}
		// Bits short of a whole byte at the end are padding.
		raw := make([]byte, len(run)*6/8)
		if _, err := utf7Encoding.Decode(raw, run[:len(raw)*8/6+min(1, len(raw)*8%6)]); err != nil {
			out.WriteRune(utf8.RuneError)
		} else {
			units := make([]uint16, len(raw)/2)
			for k := range units {
				units[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
			}
			for _, r := range utf16.Decode(units) {
				out.WriteRune(r)
			}
			if len(raw)%2 != 0 {
				out.WriteRune(utf8.RuneError)
			}
		}
		i = j - 1
		if j < len(b) && b[j] == '-' {
			i = j
		}
	}
	return out.String()
}

func isBase64Char(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/'
}
