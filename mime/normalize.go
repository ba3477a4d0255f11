package mime

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Normalize turns an attachment name taken from a message into the form that
// attachment rules are matched against. It is the name a Windows mail client
// would most likely save the file under, lower-cased, so that one comparison
// of the extension is enough. The steps, in order:
//
//   - Bytes that are not valid UTF-8 become U+FFFD, so the ASCII around them
//     (the extension) survives.
//   - C0 and C1 control characters, DEL and NUL are removed.
//   - Unicode format characters (category Cf) are removed: the bidirectional
//     overrides and isolates (U+202A..U+202E, U+2066..U+2069), the marks
//     U+200E, U+200F and U+061C, zero-width characters and the BOM. With
//     them gone "evil\u202Etxt.exe" reads as what it is, "eviltxt.exe".
//   - Line and paragraph separators are removed; every other Unicode space
//     (no-break space, ideographic space, ...) becomes an ASCII space.
//   - Directory parts are dropped: everything up to the last '/' or '\', then
//     a leading drive letter ("c:evil.exe").
//   - A trailing NTFS default stream suffix "::$DATA" is dropped, since
//     Windows opens "evil.exe::$DATA" as "evil.exe".
//   - Leading and trailing white space and double quotes, then trailing dots
//     and spaces are removed: Windows ignores trailing dots and spaces, so
//     "evil.exe." and "evil.exe " are "evil.exe".
//   - The result is lower-cased (Unicode simple case folding to lower case).
//
// Leading dots, inner dots and spaces, and every other character are kept, so
// names such as "notes.exe.txt" or ".profile" stay as they are. The steps are
// repeated until nothing changes, which makes Normalize idempotent. A name
// that is only a directory, dots or spaces normalises to "".
func Normalize(name string) string {
	s := cleanRunes(name)
	for {
		prev := s
		if i := strings.LastIndexAny(s, `/\`); i >= 0 {
			s = s[i+1:]
		}
		if len(s) >= 2 && s[1] == ':' && isASCIILetter(s[0]) {
			s = s[2:]
		}
		if n := len(s) - len("::$data"); n >= 0 && strings.EqualFold(s[n:], "::$data") {
			s = s[:n]
		}
		s = strings.Trim(s, " \t\"")
		s = strings.TrimRight(s, ". ")
		if s == prev {
			break
		}
	}
	return strings.ToLower(s)
}

func isASCIILetter(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// cleanRunes does the character level steps of Normalize. It returns s itself
// when there is nothing to change, which is the common case.
func cleanRunes(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c >= utf8.RuneSelf {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r < 0x20, r == 0x7f, 0x80 <= r && r < 0xa0:
			// Control character: dropped.
		case unicode.Is(unicode.Cf, r), r == '\u2028', r == '\u2029':
			// Format character or line/paragraph separator: dropped.
		case r != ' ' && unicode.IsSpace(r), unicode.Is(unicode.Zs, r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
