package mime

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{"exercise.txt", "exercise.txt"},
		{"notes.exe.txt", "notes.exe.txt"},
		{"papers.zip", "papers.zip"},
		{".profile", ".profile"},
		{"EVIL.EXE", "evil.exe"},
		{"evil.exe.", "evil.exe"},
		{"evil.exe ", "evil.exe"},
		{"evil.exe. . .", "evil.exe"},
		{"  evil.exe  ", "evil.exe"},
		{`"evil.exe"`, "evil.exe"},
		{`C:\temp\evil.exe`, "evil.exe"},
		{"../../etc/evil.exe", "evil.exe"},
		{`dir/sub\mixed/evil.exe`, "evil.exe"},
		{"d:evil.exe", "evil.exe"},
		{"evil.exe::$DATA", "evil.exe"},
		{"evil.exe::$data. ", "evil.exe"},
		{"evil\x00.txt\x00.exe", "evil.txt.exe"},
		{"ev\x01il\x7f.bat", "evil.bat"},
		{"tab\there.exe", "tabhere.exe"},
		{"evil\u202etxt.exe", "eviltxt.exe"},
		{"invoice\u202efdp.exe", "invoicefdp.exe"},
		{"a\u2066b\u2069c\u200e\u200f\u061c.js", "abc.js"},
		{"ev\u200bil\u200d.vbs", "evil.vbs"},
		{"\ufeffbom.vbs", "bom.vbs"},
		{"soft\u00adhyphen.exe", "softhyphen.exe"},
		{"evil.exe\u00a0", "evil.exe"},
		{"wide\u3000space.exe\u3000", "wide space.exe"},
		{"line\u2028sep.exe", "linesep.exe"},
		{"c1\u0085\u009b.exe", "c1.exe"},
		{"bad\xff\xfe.exe", "bad\ufffd\ufffd.exe"},
		{"Résumé.EXE", "résumé.exe"},
		{"ÉTÉ.Exe", "été.exe"},
		{"dir/", ""},
		{"..", ""},
		{". .", ""},
		{"", ""},
		{"a:b:c:evil.exe", "evil.exe"},
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// checkNormalized fails when n is not a possible output of Normalize.
func checkNormalized(t *testing.T, in, n string) {
	t.Helper()
	if !utf8.ValidString(n) {
		t.Fatalf("Normalize(%q) = %q is not UTF-8", in, n)
	}
	if strings.ContainsAny(n, `/\`) {
		t.Fatalf("Normalize(%q) = %q keeps a directory separator", in, n)
	}
	for _, r := range n {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r != ' ' && unicode.IsSpace(r) {
			t.Fatalf("Normalize(%q) = %q keeps %U", in, n, r)
		}
	}
	if strings.HasSuffix(n, ".") || strings.HasSuffix(n, " ") || strings.HasPrefix(n, " ") {
		t.Fatalf("Normalize(%q) = %q has dots or spaces Windows would drop", in, n)
	}
	if strings.ToLower(n) != n {
		t.Fatalf("Normalize(%q) = %q is not lower case", in, n)
	}
	if again := Normalize(n); again != n {
		t.Fatalf("Normalize is not idempotent: %q -> %q -> %q", in, n, again)
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"evil.exe", `C:\x\EVIL.EXE. `, "a\u202eb.exe", "\xff\x00.", "d:e::$DATA", "İ.EXE", "\u212a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkNormalized(t, s, Normalize(s))
	})
}
