package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// subject reads 8 KB first and the rest of its 64 KB only for a header
// block that goes on past that.
func TestSubjectLongHeader(t *testing.T) {
	received := strings.Repeat("Received: from relay.example.net by mx.example.org; Sat, 21 Nov 2026 10:00:00 +0000\n", 150)
	body := strings.Repeat("Subject: not this one\n", 1000)
	for name, tc := range map[string]struct{ msg, want string }{
		"short":            {"From: a@example.org\nSubject: Hello\n\n" + body, "Hello"},
		"after 8 KB":       {received + "Subject: Late\n folded\n\n" + body, "Late folded"},
		"CRLF after 8 KB":  {strings.ReplaceAll(received, "\n", "\r\n") + "Subject: Late\r\n\r\n" + body, "Late"},
		"no header end":    {received + "Subject: Open", "Open"},
		"past 64 KB":       {strings.Repeat(received, 6) + "Subject: Too late\n\n", ""},
		"none in 8 KB end": {received[:8<<10-1] + "\n\nSubject: body\n", ""},
	} {
		path := filepath.Join(t.TempDir(), "msg")
		if err := os.WriteFile(path, []byte(tc.msg), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := subject(f); got != tc.want {
			t.Errorf("%s: subject %q, want %q", name, got, tc.want)
		}
		f.Close()
	}
}
