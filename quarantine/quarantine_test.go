package quarantine

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gosimscan/simscan/control"
	"github.com/gosimscan/simscan/qmail"
	"github.com/gosimscan/simscan/scanner"
)

func TestValidID(t *testing.T) {
	good := []string{"1700000000.123456.4242.9f8e7d6c", "a", "A-b_c.d", strings.Repeat("x", 128)}
	bad := []string{"", ".", "..", "../etc", "a/b", "/abs", ".tmp-1", ".del-1", "-rf", "a b", "a\x00b", "a\\b", "é", strings.Repeat("x", 129), "a\n"}
	for _, id := range good {
		if !ValidID(id) {
			t.Errorf("ValidID(%q) = false, want true", id)
		}
	}
	for _, id := range bad {
		if ValidID(id) {
			t.Errorf("ValidID(%q) = true, want false", id)
		}
	}
}

func TestWanted(t *testing.T) {
	yes, no := true, false
	conf := func(dir string, classes ...string) *control.Config {
		c := control.Defaults()
		c.QuarantineDir = dir
		if classes != nil {
			c.QuarantineClasses = classes
		}
		return &c
	}
	reject := func(class string) scanner.Verdict { return scanner.Verdict{Action: scanner.Reject, Class: class} }
	tests := []struct {
		name     string
		cfg      *control.Config
		override *bool
		v        scanner.Verdict
		want     bool
	}{
		{"no quarantine_dir", conf(""), nil, reject("spam"), false},
		{"no quarantine_dir, rule says yes", conf(""), &yes, reject("spam"), false},
		{"default classes keep spam", conf("/q"), nil, reject("spam"), true},
		{"default classes skip virus", conf("/q"), nil, reject("virus"), false},
		{"chosen classes", conf("/q", "virus", "attach"), nil, reject("attach"), true},
		{"class not chosen", conf("/q", "virus", "attach"), nil, reject("regex"), false},
		{"rule yes beats classes", conf("/q"), &yes, reject("limit"), true},
		{"rule no beats classes", conf("/q"), &no, reject("spam"), false},
		{"dropped message is kept", conf("/q"), nil, scanner.Verdict{Action: scanner.Drop, Class: "spam"}, true},
		{"clean message", conf("/q"), &yes, scanner.Verdict{Action: scanner.Pass}, false},
		{"passthru spam has no class", conf("/q"), nil, scanner.Verdict{Action: scanner.Pass, State: "PASSTHRU"}, false},
		{"temporary failure is not kept", conf("/q", "limit"), nil, scanner.Verdict{Action: scanner.TempFail, Class: "limit"}, false},
		{"scanner error", conf("/q"), &yes, scanner.Verdict{Action: scanner.TempFail}, false},
		{"refusal without class", conf("/q"), &yes, scanner.Verdict{Action: scanner.Reject}, false},
	}
	for _, tt := range tests {
		if got := Wanted(tt.cfg, tt.override, tt.v); got != tt.want {
			t.Errorf("%s: Wanted = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestMetaFor(t *testing.T) {
	m := &scanner.Message{From: "a@example.org", To: []string{"b@example.com", "c@example.com"}, RemoteIP: "192.0.2.1"}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	got := MetaFor(m, scanner.Verdict{Action: scanner.Reject, State: "SPAM REJECT (12.00/5.00/5.00)", Class: "spam"}, "1.0", now)
	if got.Detail != "SPAM REJECT (12.00/5.00/5.00)" || got.Class != "spam" || got.Time.Location() != time.UTC || !got.Time.Equal(now) ||
		got.From != m.From || strings.Join(got.To, ",") != "b@example.com,c@example.com" || got.RemoteIP != "192.0.2.1" || got.Version != "1.0" {
		t.Errorf("spam meta %+v", got)
	}
	got = MetaFor(m, scanner.Verdict{Action: scanner.Reject, State: "VIRUS", Detail: "Eicar-Signature", Class: "virus"}, "1.0", now)
	if got.Detail != "Eicar-Signature" {
		t.Errorf("virus detail %q", got.Detail)
	}
	m.To[0] = "changed@example.com"
	if got.To[0] != "b@example.com" {
		t.Error("MetaFor shares the recipient slice with the message")
	}
}

func TestEnvelope(t *testing.T) {
	b, err := Envelope("a@example.org", []string{"b@example.com", "c@example.com"})
	if err != nil || string(b) != "Fa@example.org\x00Tb@example.com\x00Tc@example.com\x00\x00" {
		t.Fatalf("got %q, %v", b, err)
	}
	b, err = Envelope("", []string{"b@example.com"})
	if err != nil || string(b) != "F\x00Tb@example.com\x00\x00" {
		t.Fatalf("null sender: got %q, %v", b, err)
	}
	// What Envelope builds, qmail-queue's parser reads back.
	var raw bytes.Buffer
	env, err := qmail.ReadEnvelope(bytes.NewReader(b), &raw)
	if err != nil || env.From != "" || len(env.To) != 1 || !bytes.Equal(raw.Bytes(), b) {
		t.Fatalf("read back %+v, %v", env, err)
	}
	for _, bad := range [][]string{nil, {"a\x00b@example.com"}, {strings.Repeat("x", qmail.MaxAddress+1)}} {
		if _, err := Envelope("a@example.org", bad); !errors.Is(err, ErrBadAddress) {
			t.Errorf("Envelope(%q) error %v, want ErrBadAddress", bad, err)
		}
	}
	if _, err := Envelope("a\x00", []string{"b"}); !errors.Is(err, ErrBadAddress) {
		t.Errorf("sender with NUL: %v", err)
	}
}

func TestKeep(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "q")
	cfg := control.Defaults()
	cfg.QuarantineDir = dir
	noLog := func(format string, args ...any) { t.Errorf("logged: "+format, args...) }
	now := time.Now()
	msg := spoolFile(t, testMessage("keep", 1000))
	m := &scanner.Message{File: msg, From: "a@example.org", To: []string{"b@example.com"}, RemoteIP: "192.0.2.9"}

	virus := scanner.Decide(scanner.Finding{Kind: scanner.Virus, Name: "Eicar"}, scanner.Rules{})
	if id, err := Keep(&cfg, nil, m, virus, "v1", now, noLog); id != "" || err != nil {
		t.Fatalf("virus with classes=spam: %q, %v", id, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("quarantine created for nothing: %v", err)
	}
	yes := true
	id, err := Keep(&cfg, &yes, m, virus, "v1", now, noLog)
	if err != nil || id == "" {
		t.Fatalf("virus with quarantine=yes: %q, %v", id, err)
	}
	got, err := Get(dir, id)
	if err != nil || got.Class != "virus" || got.Detail != "Eicar" || got.From != "a@example.org" || got.RemoteIP != "192.0.2.9" || got.Version != "v1" {
		t.Errorf("stored %+v, %v", got, err)
	}

	// The cap: 1 MB, filled by older entries; the new one stays.
	cfg.QuarantineMaxMB = 1
	var old []string
	for i := 0; i < 3; i++ {
		old = append(old, store(t, dir, testMessage("old", 600<<10), Meta{Time: now.Add(-time.Duration(3-i) * time.Hour), Class: "spam", To: []string{"a@b"}}))
	}
	spam := scanner.Decide(scanner.Finding{Kind: scanner.Spam, Flagged: true, Score: 20, Required: 5}, scanner.Rules{DropMsg: true})
	id2, err := Keep(&cfg, nil, m, spam, "v1", now, noLog)
	if err != nil || id2 == "" {
		t.Fatalf("dropped spam: %q, %v", id2, err)
	}
	// 3 x 600K and two small entries: the cap takes the two oldest.
	want := []string{old[2], id, id2}
	sort.Strings(want)
	if got := names(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("after the cap: %q, want %q", got, want)
	}
}

func TestFailedVerdict(t *testing.T) {
	v := scanner.Decide(scanner.Finding{Kind: scanner.Virus, Name: "Eicar"}, scanner.Rules{DropMsg: true})
	got := FailedVerdict(v, errors.New("no space left on device"))
	if got.Action != scanner.TempFail || got.State != "TEMPFAIL" || got.Text != "" || got.Class != "" ||
		got.Detail != "quarantine of VIRUS DROPPED Eicar: no space left on device" {
		t.Errorf("got %+v", got)
	}
}
