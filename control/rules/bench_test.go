package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosimscan/simscan/control/cdb"
)

// rules100k returns a simcontrol of 100,000 entries: a default, domains and
// addresses with extensions.
func rules100k() string {
	var b strings.Builder
	b.WriteString(":clam=yes,spam=yes,spam_hits=10\n")
	for i := range 99_999 {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "domain%d.example:clam=yes,spam=no,attach=.exe:.scr:.pif\n", i)
		case 1:
			fmt.Fprintf(&b, "user%d@domain%d.example:spam_hits=%d.5,spamuser=user%d\n", i, i-1, i%30, i)
		default:
			fmt.Fprintf(&b, "user%d-list@domain%d.example:regex=^x-spam\\x3a:casino,quarantine=yes\n", i-1, i-2)
		}
	}
	return b.String()
}

// typicalEnvelope reaches a domain, an address and an extension among
// misses.
var typicalEnvelope = struct {
	from  string
	rcpts []string
}{
	from:  "sender@elsewhere.example",
	rcpts: []string{"User4-List-Owner@Domain3.example", "someone@domain3000.example"},
}

func build100k(b *testing.B) string {
	b.Helper()
	return compile(b, rules100k())
}

// BenchmarkOpenLookup100k times what simscan does for each message: open
// simcontrol.cdb, look up a typical envelope, close it.
func BenchmarkOpenLookup100k(b *testing.B) {
	path := build100k(b)
	b.ReportAllocs()
	for b.Loop() {
		s, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		p, err := s.Lookup(typicalEnvelope.from, typicalEnvelope.rcpts)
		if err != nil || len(p.Matched) != 5 {
			b.Fatalf("Lookup = %v, %v", p.Matched, err)
		}
		s.Close()
	}
}

// BenchmarkLookup100k times the lookup alone in an open 100,000-entry
// simcontrol.cdb.
func BenchmarkLookup100k(b *testing.B) {
	s := openSet(b, build100k(b))
	b.ReportAllocs()
	for b.Loop() {
		p, err := s.Lookup(typicalEnvelope.from, typicalEnvelope.rcpts)
		if err != nil || len(p.Matched) != 5 {
			b.Fatalf("Lookup = %v, %v", p.Matched, err)
		}
	}
}

// BenchmarkCompile100k times checking and compiling 100,000 entries into a
// cdb file.
func BenchmarkCompile100k(b *testing.B) {
	text := rules100k()
	path := filepath.Join(b.TempDir(), "simcontrol.cdb")
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		w, err := cdb.NewWriter(f)
		if err != nil {
			b.Fatal(err)
		}
		problems, err := Compile(strings.NewReader(text), "simcontrol", w)
		if err != nil || len(problems) != 0 {
			b.Fatalf("Compile: %v %v", err, problems[:min(len(problems), 3)])
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
