package rules

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gosimscan/simscan/control/cdb"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/rules")

const testdataDir = "../../testdata/rules"

// compile builds simcontrol text into a simcontrol.cdb in a temporary
// directory and returns its path.
func compile(t testing.TB, text string) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "simcontrol")
	if err := os.WriteFile(src, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "simcontrol.cdb")
	problems, err := Build(src, dst)
	if err != nil {
		t.Fatalf("Build: %v %v", err, problems)
	}
	return dst
}

func openSet(t testing.TB, path string) *Set {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdataDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func yes(src string) Opt[bool] { return Opt[bool]{Value: true, Set: true, Source: src} }
func no(src string) Opt[bool]  { return Opt[bool]{Value: false, Set: true, Source: src} }
func hits(v float64, src string) Opt[float64] {
	return Opt[float64]{Value: v, Set: true, Source: src}
}
func list(src string, v ...string) Opt[[]string] {
	if v == nil {
		v = []string{}
	}
	return Opt[[]string]{Value: v, Set: true, Source: src}
}
func str(v, src string) Opt[string] { return Opt[string]{Value: v, Set: true, Source: src} }

// defaults is what the default entry of testdata/rules/simcontrol sets.
func defaults() Policy {
	return Policy{
		Clam:     yes(DefaultSource),
		Spam:     yes(DefaultSource),
		Trophie:  yes(DefaultSource),
		SpamHits: hits(20.1, DefaultSource),
		Matched:  []string{DefaultSource},
	}
}

// with returns the defaults changed by f.
func with(f func(p *Policy)) Policy {
	p := defaults()
	f(&p)
	return p
}

func TestLookupPrecedence(t *testing.T) {
	s := openSet(t, compile(t, readTestdata(t, "simcontrol")))
	tests := []struct {
		name  string
		from  string
		rcpts []string
		want  Policy
	}{
		{
			name:  "default only",
			from:  "someone@nowhere.net",
			rcpts: []string{"else@nowhere.net"},
			want:  defaults(),
		},
		{
			name:  "domain overrides default",
			from:  "someone@nowhere.net",
			rcpts: []string{"user@example.com"},
			want: with(func(p *Policy) {
				p.Clam = no("example.com")
				p.Spam = yes("example.com")
				p.Attach = list("example.com", ".mp3")
				p.Matched = append(p.Matched, "example.com")
			}),
		},
		{
			name:  "address overrides domain",
			from:  "someone@nowhere.net",
			rcpts: []string{"postmaster@example.com"},
			want: with(func(p *Policy) {
				p.Clam = yes("postmaster@example.com")
				p.Spam = no("postmaster@example.com")
				p.Attach = list("postmaster@example.com", ".txt", ".com")
				p.Matched = append(p.Matched, "example.com", "postmaster@example.com")
			}),
		},
		{
			name:  "qmail extensions, shortest first",
			from:  "someone@nowhere.net",
			rcpts: []string{"test-list-owner@test.ch"},
			want: with(func(p *Policy) {
				p.SpamHits = hits(5, "test.ch")
				p.Spam = no("test@test.ch")
				p.Attach = list("test-list@test.ch", ".exe", ".scr")
				p.Clam = no("test-list-owner@test.ch")
				p.Matched = append(p.Matched, "test.ch", "test@test.ch", "test-list@test.ch", "test-list-owner@test.ch")
			}),
		},
		{
			name:  "extension without its own entry",
			from:  "someone@nowhere.net",
			rcpts: []string{"test-other-thing@test.ch"},
			want: with(func(p *Policy) {
				p.SpamHits = hits(5, "test.ch")
				p.Spam = no("test@test.ch")
				p.Matched = append(p.Matched, "test.ch", "test@test.ch")
			}),
		},
		{
			name:  "last matching recipient wins",
			from:  "someone@nowhere.net",
			rcpts: []string{"postmaster@example.com", "user@other.org", "nobody@nowhere.net"},
			want: with(func(p *Policy) {
				p.Clam = no("other.org")
				p.Spam = no("postmaster@example.com")
				p.Attach = list("postmaster@example.com", ".txt", ".com")
				p.SpamUser = str("shared", "other.org")
				p.Quarantine = yes("other.org")
				p.Matched = append(p.Matched, "example.com", "postmaster@example.com", "other.org")
			}),
		},
		{
			name:  "the same recipients in the other order",
			from:  "someone@nowhere.net",
			rcpts: []string{"user@other.org", "postmaster@example.com"},
			want: with(func(p *Policy) {
				p.Clam = yes("postmaster@example.com")
				p.Spam = no("postmaster@example.com")
				p.Attach = list("postmaster@example.com", ".txt", ".com")
				p.SpamUser = str("shared", "other.org")
				p.Quarantine = yes("other.org")
				p.Matched = append(p.Matched, "other.org", "example.com", "postmaster@example.com")
			}),
		},
		{
			name:  "sender is looked up before the recipients",
			from:  "boss@other.org",
			rcpts: []string{"user@example.com"},
			want: with(func(p *Policy) {
				p.Clam = no("example.com")
				p.Spam = yes("example.com")
				p.Attach = list("example.com", ".mp3")
				p.SpamUser = str("shared", "other.org")
				p.Quarantine = yes("other.org")
				p.Regex = list("boss@other.org", `^subject\x3a\sviagra`, "casino")
				p.QmailQueue = str("/var/qmail/bin/qmail-queue", "boss@other.org")
				p.Matched = append(p.Matched, "other.org", "boss@other.org", "example.com")
			}),
		},
		{
			name:  "upper case in the envelope",
			from:  "Someone@NoWhere.NET",
			rcpts: []string{"PostMaster@Example.COM", "USER@MIXED.case.net"},
			want: with(func(p *Policy) {
				p.Clam = yes("postmaster@example.com")
				p.Spam = no("mixed.case.net")
				p.Attach = list("postmaster@example.com", ".txt", ".com")
				p.Matched = append(p.Matched, "example.com", "postmaster@example.com", "mixed.case.net")
			}),
		},
		{
			name:  "null sender",
			from:  "",
			rcpts: []string{"user@nowhere.net"},
			want: with(func(p *Policy) {
				p.Spam = no("@")
				p.Matched = append(p.Matched, "@")
			}),
		},
		{
			name:  "addresses without a domain part",
			from:  "someone@nowhere.net",
			rcpts: []string{"webmaster", "postmaster", "nobody"},
			want: with(func(p *Policy) {
				p.Trophie = no("webmaster")
				p.SpamPassthru = yes("postmaster@")
				p.Matched = append(p.Matched, "webmaster", "postmaster@")
			}),
		},
		{
			name:  "empty domain part",
			from:  "someone@nowhere.net",
			rcpts: []string{"postmaster@"},
			want: with(func(p *Policy) {
				p.SpamPassthru = yes("postmaster@")
				p.Matched = append(p.Matched, "postmaster@")
			}),
		},
		{
			name: "no recipients",
			from: "postmaster@example.com",
			want: with(func(p *Policy) {
				p.Clam = yes("postmaster@example.com")
				p.Spam = no("postmaster@example.com")
				p.Attach = list("postmaster@example.com", ".txt", ".com")
				p.Matched = append(p.Matched, "example.com", "postmaster@example.com")
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Lookup(tt.from, tt.rcpts)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Lookup(%q, %q)\n got %s\nwant %s", tt.from, tt.rcpts, dump(&got), dump(&tt.want))
			}
		})
	}
}

// dump shows a policy with its sources, for test failures.
func dump(p *Policy) string {
	var b strings.Builder
	for _, s := range p.Settings() {
		if s.Set {
			b.WriteString(s.Name + "=" + s.Value + " (" + s.Source + ") ")
		}
	}
	b.WriteString("matched " + strings.Join(p.Matched, ","))
	return b.String()
}

func TestLookupNoDefault(t *testing.T) {
	s := openSet(t, compile(t, "example.com:clam=no\n"))
	p, err := s.Lookup("a@b.c", []string{"x@y.z"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, Policy{}) {
		t.Errorf("without a default entry or a match: %s, want nothing set", dump(&p))
	}
	p, err = s.Lookup("a@b.c", []string{"x@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Policy{Clam: no("example.com"), Matched: []string{"example.com"}}); !reflect.DeepEqual(p, want) {
		t.Errorf("got %s, want %s", dump(&p), dump(&want))
	}
}

func TestLookupManyExtensions(t *testing.T) {
	// An address with more dashes than simscan looks up still has its
	// whole self looked up, and a huge one costs no more than its domain
	// and itself.
	long := strings.Repeat("a-", 400) + "z"
	huge := strings.Repeat("-", 1<<19)
	s := openSet(t, compile(t, long+"@example.com:clam=no\n"+huge+"@example.com:spam=no\n"))
	p, err := s.Lookup(long+"@example.com", []string{huge + "@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Clam.Set || p.Clam.Value || !p.Spam.Set || p.Spam.Value {
		t.Errorf("long addresses: %s", dump(&p))
	}
}

func TestOpenMissing(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "simcontrol.cdb"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of a missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestLookupCorrupt(t *testing.T) {
	path := compile(t, readTestdata(t, "simcontrol"))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Make every record's value run past the end of the file.
	r, err := cdb.FromBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	pos := 2048
	for rec, err := range r.All() {
		if err != nil {
			t.Fatal(err)
		}
		next := pos + 8 + len(rec.Key) + len(rec.Value)
		copy(data[pos+4:], []byte{0xff, 0xff, 0xff, 0x7f})
		pos = next
	}
	r, err = cdb.FromBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSet(r)
	defer s.Close()
	if _, err := s.Lookup("a@example.com", nil); !errors.Is(err, cdb.ErrCorrupt) {
		t.Errorf("Lookup in a corrupt file: %v, want cdb.ErrCorrupt", err)
	}
}

func TestApply(t *testing.T) {
	tests := []struct {
		options string
		want    Policy
	}{
		{"", Policy{}},
		{"clam=yes", Policy{Clam: yes("s")}},
		{"CLAM=Yes", Policy{Clam: yes("s")}},
		// simscan leaves a yes/no option alone if the value is neither.
		{"clam=yes,clam=maybe", Policy{Clam: yes("s")}},
		{"clam=yes,clam=no", Policy{Clam: no("s")}},
		// Every separator is the same to simscan.
		{"clam yes\tspam'no\"trophie=yes", Policy{Clam: yes("s"), Spam: no("s"), Trophie: yes("s")}},
		// A doubled separator shifts names and values.
		{"clam=yes,,spam=no", Policy{Clam: yes("s")}},
		{"spam_hits=7", Policy{SpamHits: hits(7, "s")}},
		{"spam_hits=7.5abc", Policy{SpamHits: hits(7.5, "s")}},
		{"spam_hits=abc", Policy{SpamHits: hits(0, "s")}},
		{"spam_hits=-.5e1", Policy{SpamHits: hits(-5, "s")}},
		{"attach=.exe:.com", Policy{Attach: list("s", ".exe", ".com")}},
		{"attach=", Policy{Attach: list("s")}},
		{"attach=:.exe::", Policy{Attach: list("s", ".exe")}},
		{"regex=a+:b[0-9]", Policy{Regex: list("s", "a+", "b[0-9]")}},
		{"qmailqueue=/bin/true,spamuser=joe", Policy{QmailQueue: str("/bin/true", "s"), SpamUser: str("joe", "s")}},
		{"quarantine=no,spam_passthru=yes", Policy{Quarantine: no("s"), SpamPassthru: yes("s")}},
		{"avira=yes,clam=no", Policy{Clam: no("s")}},
		{"clam", Policy{}},
	}
	for _, tt := range tests {
		var p Policy
		apply(&p, "s", tt.options)
		if !reflect.DeepEqual(p, tt.want) {
			t.Errorf("apply(%q) = %s, want %s", tt.options, dump(&p), dump(&tt.want))
		}
	}
}

func TestAtof(t *testing.T) {
	tests := []struct {
		in   string
		want float64
	}{
		{"20.1", 20.1}, {"5", 5}, {"5.", 5}, {".5", 0.5}, {"+3", 3}, {"-3", -3},
		{"1e2", 100}, {"1e", 1}, {"1e+", 1}, {"2E-1", 0.2}, {"12abc", 12},
		{"", 0}, {".", 0}, {"-", 0}, {"abc", 0}, {"0x10", 0},
	}
	for _, tt := range tests {
		if got := atof(tt.in); got != tt.want {
			t.Errorf("atof(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := atof("inf"); got <= 1e308 {
		t.Errorf("atof(inf) = %v", got)
	}
	if got := atof("-Infinity"); got >= -1e308 {
		t.Errorf("atof(-Infinity) = %v", got)
	}
	if got := atof("nan"); got == got {
		t.Errorf("atof(nan) = %v", got)
	}
}

func TestSettings(t *testing.T) {
	s := openSet(t, compile(t, readTestdata(t, "simcontrol")))
	p, err := s.Lookup("boss@other.org", []string{"test-list@test.ch"})
	if err != nil {
		t.Fatal(err)
	}
	want := "clam=yes,spam=no,spam_hits=5,spamuser=shared,trophie=yes," +
		`attach=.exe:.scr,regex=^subject\x3a\sviagra:casino,qmailqueue=/var/qmail/bin/qmail-queue,quarantine=yes`
	if got := p.String(); got != want {
		t.Errorf("String() = %q\nwant %q", got, want)
	}
	// The rendering reads back as the same policy.
	var again Policy
	apply(&again, "x", p.String())
	for i, st := range again.Settings() {
		if orig := p.Settings()[i]; st.Set != orig.Set || st.Value != orig.Value {
			t.Errorf("%s: %q read back as %q", st.Name, orig.Value, st.Value)
		}
	}
	var names []string
	for _, st := range p.Settings() {
		names = append(names, st.Name)
	}
	wantNames := []string{"clam", "spam", "spam_hits", "spam_passthru", "spamuser", "trophie", "attach", "regex", "qmailqueue", "quarantine"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("Settings names %q, want %q", names, wantNames)
	}
	if st := p.Settings()[3]; st.Set || st.Value != "" || st.Source != "" {
		t.Errorf("unset spam_passthru shows as %+v", st)
	}
}

func TestVersions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simversions.cdb")
	want := map[string]string{
		VersionAttach:  "1.4.0",
		VersionClamAV:  "0.80/m:27/d:556",
		VersionTrophie: "7.000-1011/218/74141",
		VersionSpam:    "2.63",
		VersionRegex:   "1.4.0",
		"avira":        "8.1",
	}
	if err := WriteVersions(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadVersions(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadVersions = %v, want %v", got, want)
	}
	r, err := cdb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var keys []string
	for rec, err := range r.All() {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, string(rec.Key))
	}
	if want := []string{"attach", "regex", "trophie", "spam", "clamav", "avira"}; !slices.Equal(keys, want) {
		t.Errorf("keys written in order %q, want %q", keys, want)
	}
	if _, err := ReadVersions(filepath.Join(t.TempDir(), "none.cdb")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadVersions of a missing file: %v", err)
	}
}
