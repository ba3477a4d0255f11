package quarantine

import (
	"bytes"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestSafe(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"\x1b[2J\x1b]0;title\x07", `\x1b[2J\x1b]0;title\x07`},
		{"del\x7f", `del\x7f`},
		{"c1 byte \x9b31m", `c1 byte \x9b31m`},
		{"c1 rune \u009b31m", `c1 rune \u009b31m`},
		{"bidi \u202egnp.exe", `bidi \u202egnp.exe`},
		{"line\u2028sep", `line\u2028sep`},
		{"tab\tnl\ncr\r", `tab\tnl\ncr\r`},
		{"nul\x00", `nul\x00`},
		{"bad utf-8 \xff\xc3", `bad utf-8 \xff\xc3`},
		{"Grüße, 東京, émoji 🎉, nbsp\u00a0", "Grüße, 東京, émoji 🎉, nbsp\u00a0"},
		{"tag \U000e0041", `tag \U000e0041`},
		{`back\slash`, `back\slash`},
	}
	for _, tt := range tests {
		if got := Safe(tt.in); got != tt.want {
			t.Errorf("Safe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSafeWriterText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a\r\nb\r\n", "a\nb\n"},
		{"tab\there\n", "tab\there\n"},
		{"lone\rcr", `lone\rcr`},
		{"end cr\r", `end cr\r`},
		{"\x1b[31mred\x1b[0m\n", `\x1b[31mred\x1b[0m` + "\n"},
		{"Grüße \u009b\n", `Grüße \u009b` + "\n"},
		{"cut \xe6\x9d", `cut \xe6\x9d`},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		sw := newSafeWriter(&out)
		sw.Write([]byte(tt.in))
		sw.Close()
		if out.String() != tt.want {
			t.Errorf("text %q gave %q, want %q", tt.in, out.String(), tt.want)
		}
	}
}

// TestSafeWriterChunks checks that how the input is cut into writes does
// not change the output: CRLF and multi-byte runes across a cut included.
func TestSafeWriterChunks(t *testing.T) {
	in := []byte("a\r\nGrüße 東京 🎉\r\n\x1b[2J\xc2\x9b\r\rx\xff\xe6\x9d\xb1\r")
	var whole bytes.Buffer
	sw := newSafeWriter(&whole)
	sw.Write(in)
	sw.Close()
	for size := 1; size <= 4; size++ {
		var out bytes.Buffer
		sw := newSafeWriter(&out)
		for i := 0; i < len(in); i += size {
			sw.Write(in[i:min(i+size, len(in))])
		}
		sw.Close()
		if out.String() != whole.String() {
			t.Errorf("writes of %d bytes gave %q, one write %q", size, out.String(), whole.String())
		}
	}
}

// harmless reports the first rune of out that a terminal could act on: any
// control but newline and tab, any non-printing rune, any invalid UTF-8.
func harmless(out string) (bad string, ok bool) {
	for i, r := range out {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(out[i:]); n <= 1 {
				return out[i : i+1], false
			}
		}
		if r != '\n' && r != '\t' && !unicode.IsGraphic(r) {
			return string(r), false
		}
	}
	return "", true
}

const hostile = "From: \x1b]0;pwned\x07evil@example.org\r\n" +
	"Subject: =?utf-8?q?hi?= \x1b[2J\x1b[H\x9b6n\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n" +
	"\r\n" +
	"preamble \x1bP+q544e\x1b\\\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Hello \x1b[31mred\x1b[0m and \u009b2J and \u202eexe.txt\x7f\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"RGVjb2RlZCBiYXNlNjQgG1szMW1ibG9iG1swbQo=\r\n" +
	"--b1\r\n" +
	"Content-Type: text/html\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"<p>Quoted =1B[5mblink=1B[0m caf=C3=A9</p>\r\n" +
	"--b1\r\n" +
	"Content-Type: application/octet-stream; name=\"\x1b[8mhidden.exe\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAA\r\n" +
	"--b1\r\n" +
	"Content-Type: message/rfc822\r\n" +
	"\r\n" +
	"Subject: inner \x1b[1m\r\n" +
	"\r\n" +
	"inner body \x07\r\n" +
	"--b1--\r\n"

func TestViewHostileMessage(t *testing.T) {
	var out bytes.Buffer
	if err := View(&out, strings.NewReader(hostile)); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if bad, ok := harmless(got); !ok {
		t.Fatalf("view holds %q:\n%s", bad, got)
	}
	for _, want := range []string{
		`From: \x1b]0;pwned\x07evil@example.org` + "\n",
		`Subject: =?utf-8?q?hi?= \x1b[2J\x1b[H\x9b6n` + "\n",
		`Hello \x1b[31mred\x1b[0m and \u009b2J and \u202eexe.txt\x7f` + "\n",
		`Decoded base64 \x1b[31mblob\x1b[0m` + "\n",
		`<p>Quoted \x1b[5mblink\x1b[0m café</p>`,
		`[application/octet-stream part "\x1b[8mhidden.exe", 33 bytes]`,
		`Subject: inner \x1b[1m` + "\n",
		`inner body \x07` + "\n",
		"part 5: message/rfc822",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("view lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "TVqQ") {
		t.Errorf("attachment shown as text:\n%s", got)
	}
}

func TestViewPlainMessages(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no mime", "Subject: hi\n\nbody \x1b\n", "-------- headers --------\nSubject: hi\n\n-------- body --------\nbody \\x1b\n"},
		{"headers only", "Subject: hi\r\n", "-------- headers --------\nSubject: hi\n-------- body --------\n"},
		{"single part base64", "Content-Type: text/plain\r\nContent-Transfer-Encoding: BASE64\r\n\r\naGVsbG8g\r\nG10=\r\n",
			"-------- headers --------\nContent-Type: text/plain\nContent-Transfer-Encoding: BASE64\n\n-------- body --------\nhello \\x1b]\n"},
		{"bad base64", "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=aGVsbG8=\r\n",
			"-------- headers --------\nContent-Transfer-Encoding: base64\n\n-------- body --------\nhello\n[cannot decode the rest of this part: illegal base64 data at input byte 8]\n"},
		{"unreadable content type", "Content-Type: ;;;\r\n\r\nbody\r\n",
			"-------- headers --------\nContent-Type: ;;;\n\n-------- body --------\n[application/octet-stream part, 6 bytes]\n"},
		{"unterminated multipart", "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\ntext\r\n",
			"-------- headers --------\nContent-Type: multipart/mixed; boundary=x\n\n-------- body --------\n-------- part 1: text/plain --------\ntext\n[multipart without its closing boundary]\n"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		if err := View(&out, strings.NewReader(tt.in)); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if out.String() != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, out.String(), tt.want)
		}
	}
}

func TestViewDeepNesting(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 100; i++ {
		b.WriteString("Content-Type: message/rfc822\r\n\r\n")
	}
	b.WriteString("Subject: bottom\r\n\r\nbottom \x1b\r\n")
	var out bytes.Buffer
	if err := View(&out, strings.NewReader(b.String())); err != nil {
		t.Fatal(err)
	}
	if bad, ok := harmless(out.String()); !ok {
		t.Fatalf("view holds %q", bad)
	}
	if strings.Count(out.String(), "headers") > maxViewDepth+1 {
		t.Errorf("followed more than %d levels", maxViewDepth)
	}
}

func FuzzSafe(f *testing.F) {
	f.Add("\x1b[2J\u009b\u202e\xff\r\n\t")
	f.Fuzz(func(t *testing.T, s string) {
		got := Safe(s)
		if bad, ok := harmless(got); !ok || strings.ContainsAny(got, "\n\t") {
			t.Fatalf("Safe(%q) = %q holds %q", s, got, bad)
		}
		if s != "" && got == "" {
			t.Fatal("text vanished")
		}
	})
}

func FuzzView(f *testing.F) {
	f.Add([]byte(hostile))
	f.Add([]byte("Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=1B=9B=C2=9B\r\n"))
	f.Add([]byte("Content-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\x1b\r\n--b--\r\n--a--\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		var out bytes.Buffer
		if err := View(&out, bytes.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
		if bad, ok := harmless(out.String()); !ok {
			t.Fatalf("view of %q holds %q", msg, bad)
		}
	})
}

func TestSplitMultipart(t *testing.T) {
	tests := []struct {
		name, body string
		parts      []string
		closed     bool
	}{
		{"crlf", "pre\r\n--b\r\nA: 1\r\n\r\none\r\n--b\r\n\r\ntwo\r\n\r\n--b--\r\nepilogue\r\n", []string{"A: 1\r\n\r\none", "\r\ntwo\r\n"}, true},
		{"lf", "--b\nx\n--b--\n", []string{"x"}, true},
		{"padding after boundary", "--b \t\r\nx\r\n--b-- \r\n", []string{"x"}, true},
		{"longer boundary is text", "--b\r\nx\r\n--bb\r\ny\r\n--b--", []string{"x\r\n--bb\r\ny"}, true},
		{"boundary inside a line is text", "--b\r\nx --b\r\n--b--", []string{"x --b"}, true},
		{"empty part", "--b\r\n--b--\r\n", []string{""}, true},
		{"not closed", "--b\r\nx\r\n", []string{"x\r\n"}, false},
		{"no boundary at all", "just text\r\n", nil, false},
	}
	for _, tt := range tests {
		parts, closed := splitMultipart([]byte(tt.body), "b")
		var got []string
		for _, p := range parts {
			got = append(got, string(p))
		}
		if strings.Join(got, "|") != strings.Join(tt.parts, "|") || len(got) != len(tt.parts) || closed != tt.closed {
			t.Errorf("%s: got %q closed=%v, want %q closed=%v", tt.name, got, closed, tt.parts, tt.closed)
		}
	}
}
