package control

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadMissingGivesDefaults(t *testing.T) {
	c, err := Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := Defaults()
	if c.WorkDir != "/var/qmail/simscan" || c.QmailQueue != "/var/qmail/bin/qmail-queue" ||
		c.SpamSizeLimit != 250000 || !c.CustomReject || c.ErrorFD != -1 || c.ScanTimeout != 60*time.Second ||
		c.OnScannerError != ErrorTempFail || !c.AttachArchives || c.SpamHitsSet || c.DropMsg || c.Received {
		t.Errorf("defaults not as documented: %+v", c)
	}
	if strings.Join(c.QuarantineClasses, ",") != strings.Join(d.QuarantineClasses, ",") {
		t.Errorf("quarantine classes %v", c.QuarantineClasses)
	}
}

func TestLoadEveryKey(t *testing.T) {
	dir := t.TempDir()
	conf := `# a comment
workdir = /tmp/w
qmailqueue=/bin/true
clamd=unix:/run/clamd.ctl,127.0.0.1:3310
spamd=127.0.0.1:783
trophie=unix:/tmp/trophie
scanner_balance=random
scan_timeout=5s
on_scanner_error=pass
clamd_on_error=tempfail
SPAM_HITS=12.5
spam_passthru=yes
spam_size_limit=1m
spam_auth_user=yes
spamc_user=yes
dropmsg=yes
custom_reject=no
error_fd=6
received=yes
attach_archives=no
attach_encrypted=reject
max_mime_depth=5
max_mime_parts=50
max_archive_depth=2
max_archive_members=20
max_decoded_bytes=10m
max_ratio=30
on_limit=tempfail
quarantine_dir=/var/q
quarantine_classes=virus, attach
quarantine_max_mb=100
stale_age=30

`
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		WorkDir: "/tmp/w", QmailQueue: "/bin/true", Clamd: "unix:/run/clamd.ctl,127.0.0.1:3310",
		Spamd: "127.0.0.1:783", Trophie: "unix:/tmp/trophie", ScannerBalance: "random",
		ScanTimeout: 5 * time.Second, OnScannerError: ErrorPass, ClamdOnError: ErrorTempFail,
		SpamHits: 12.5, SpamHitsSet: true, SpamPassthru: true, SpamSizeLimit: 1 << 20,
		SpamAuthUser: true, SpamcUser: true, DropMsg: true, CustomReject: false, ErrorFD: 6,
		Received: true, AttachArchives: false, AttachEncrypted: "reject", MaxMIMEDepth: 5,
		MaxMIMEParts: 50, MaxArchiveDepth: 2, MaxArchiveMembers: 20, MaxDecodedBytes: 10 << 20,
		MaxRatio: 30, OnLimit: LimitTempFail, QuarantineDir: "/var/q",
		QuarantineClasses: []string{"virus", "attach"}, QuarantineMaxMB: 100, StaleAge: 30 * time.Second,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	if c.ErrorActionFor("clamd") != ErrorTempFail || c.ErrorActionFor("spamd") != ErrorPass {
		t.Error("per-scanner error actions not applied")
	}
	if !c.Quarantines("virus") || c.Quarantines("spam") {
		t.Error("quarantine classes not applied")
	}
}

func TestLoadErrorsNameFileAndLine(t *testing.T) {
	tests := []struct{ conf, want string }{
		{"bogus=1\n", "simscan.conf:1: unknown key \"bogus\""},
		{"# c\n\nspam_hits=lots\n", "simscan.conf:3: spam_hits"},
		{"dropmsg=maybe\n", "simscan.conf:1: dropmsg"},
		{"clamd=unix:\n", "simscan.conf:1: clamd"},
		{"error_fd=2\n", "simscan.conf:1: error_fd"},
		{"scan_timeout=-1s\n", "simscan.conf:1: scan_timeout"},
		{"on_limit=explode\n", "simscan.conf:1: on_limit"},
		{"quarantine_classes=virus,worms\n", "simscan.conf:1: quarantine_classes"},
		{"just words\n", "simscan.conf:1: expected key=value"},
		{"workdir=\n", "simscan.conf:1: workdir: must not be empty"},
		{"max_mime_parts=0\n", "simscan.conf:1: max_mime_parts"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(tt.conf), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(dir)
		var ce *ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want an error containing %q", tt.conf, err, tt.want)
		}
	}
}

func TestLoadAllReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ConfigFile), []byte("a=1\nb=2\nreceived=yes\nc=3\n"), 0o644)
	_, errs := LoadAll(dir)
	if len(errs) != 3 {
		t.Fatalf("got %d problems, want 3: %v", len(errs), errs)
	}
}

func TestReadAttachList(t *testing.T) {
	dir := t.TempDir()
	if l, err := ReadAttachList(dir); err != nil || l != nil {
		t.Fatalf("missing file: %v %v", l, err)
	}
	os.WriteFile(filepath.Join(dir, "ssattach"), []byte(".EXE\n\n# no\n .scr \r\n.bat"), 0o644)
	l, err := ReadAttachList(dir)
	if err != nil || strings.Join(l, ",") != ".exe,.scr,.bat" {
		t.Fatalf("got %q %v", l, err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "250000": 250000, "10k": 10240, "2M": 2 << 20, "1g": 1 << 30} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("%q: %d %v", in, got, err)
		}
	}
	for _, in := range []string{"", "-1", "1x", "k", "99999999999999999999"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestQuarantineMaxMBIsPlainMegabytes(t *testing.T) {
	c := Defaults()
	if errs := Parse(&c, strings.NewReader("quarantine_max_mb=250\n"), "x"); len(errs) != 0 || c.QuarantineMaxMB != 250 {
		t.Fatalf("%v %d", errs, c.QuarantineMaxMB)
	}
	if errs := Parse(&c, strings.NewReader("quarantine_max_mb=1g\n"), "x"); len(errs) != 1 {
		t.Errorf("1g accepted as a number of megabytes")
	}
}
