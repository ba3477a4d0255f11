package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gosimscan/simscan/control/rules"
)

const testdata = "../../testdata/rules"

// result is what one run of simscanmk printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// setup makes a control directory holding the given testdata file as
// simcontrol (none if name is empty) and a tool that uses it through
// SIMSCAN_CONTROLDIR.
func setup(t *testing.T, name string) (string, *tool) {
	t.Helper()
	dir := t.TempDir()
	if name != "" {
		b, err := os.ReadFile(filepath.Join(testdata, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rulesFile), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, &tool{
		controlDir: "/nonexistent/control",
		getenv: func(k string) string {
			if k == "SIMSCAN_CONTROLDIR" {
				return dir
			}
			return ""
		},
		versions: func(string) (map[string]string, error) {
			return map[string]string{rules.VersionAttach: "1.2.3", rules.VersionRegex: "1.2.3"}, nil
		},
	}
}

func runTool(t *testing.T, tl *tool, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr, tl)
	return result{code, stdout.String(), stderr.String()}
}

// checkStderr asserts every stderr line has the program's prefix, is not
// capitalised and has no trailing period.
func checkStderr(t *testing.T, stderr string) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		if l == "" || strings.HasPrefix(l, "usage:") || strings.HasPrefix(l, " ") || strings.HasPrefix(l, "DIR ") {
			continue
		}
		msg, ok := strings.CutPrefix(l, "simscanmk: ")
		if !ok || msg == "" || strings.HasSuffix(msg, ".") || strings.ToLower(msg[:1]) != msg[:1] {
			t.Errorf("stderr line %q breaks the message style", l)
		}
	}
}

func TestBuild(t *testing.T) {
	dir, tl := setup(t, "simcontrol")
	r := runTool(t, tl)
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("simscanmk = %d, stderr %q", r.code, r.stderr)
	}
	cdbPath := filepath.Join(dir, rulesCDB)
	if want := "built " + cdbPath + " from " + filepath.Join(dir, rulesFile) + "\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	fi, err := os.Stat(cdbPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("simcontrol.cdb has mode %v, want 0644", fi.Mode().Perm())
	}
	set, err := rules.Open(cdbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	p, err := set.Lookup("", []string{"postmaster@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Clam.Value || p.Clam.Source != "postmaster@example.com" || p.Spam.Value || p.Spam.Source != "postmaster@example.com" {
		t.Errorf("built rules give %s", p.String())
	}
	// tinycdb reads the result.
	out, err := exec.Command("cdb", "-q", cdbPath, "example.com").Output()
	if err != nil {
		t.Fatalf("cdb -q (Debian package tinycdb): %v", err)
	}
	if string(out) != "clam=no,spam=yes,attach=.mp3" {
		t.Errorf("cdb -q example.com = %q", out)
	}
}

func TestBuildErrorsKeepOldRules(t *testing.T) {
	dir, tl := setup(t, "simcontrol")
	if r := runTool(t, tl); r.code != exitOK {
		t.Fatalf("first build: %+v", r)
	}
	cdbPath := filepath.Join(dir, rulesCDB)
	old, err := os.ReadFile(cdbPath)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := os.ReadFile(filepath.Join(testdata, "bad.simcontrol"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, rulesFile), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runTool(t, tl)
	if r.code != exitFail || r.stdout != "" {
		t.Errorf("build with errors = %d, stdout %q", r.code, r.stdout)
	}
	checkStderr(t, r.stderr)
	src := filepath.Join(dir, rulesFile)
	for _, want := range []string{
		"simscanmk: " + src + ":2: clam=maybe: want yes or no\n",
		"simscanmk: " + src + ":12: warning: unknown option avira: simscan ignores it\n",
		"simscanmk: 11 errors in " + src + ": " + cdbPath + " left as it was\n",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if now, _ := os.ReadFile(cdbPath); !bytes.Equal(now, old) {
		t.Errorf("a failed build changed simcontrol.cdb")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("a failed build left files behind: %v", entries)
	}
}

func TestBuildWarningsStillBuild(t *testing.T) {
	dir, tl := setup(t, "")
	text := ":clam=yes\nexample.com:avira=yes,spam=no\n"
	if err := os.WriteFile(filepath.Join(dir, rulesFile), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runTool(t, tl)
	if r.code != exitOK {
		t.Fatalf("build with a warning = %+v", r)
	}
	want := "simscanmk: " + filepath.Join(dir, rulesFile) + ":2: warning: unknown option avira: simscan ignores it\n"
	if r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	if _, err := os.Stat(filepath.Join(dir, rulesCDB)); err != nil {
		t.Errorf("no simcontrol.cdb after a build with warnings: %v", err)
	}
}

func TestBuildMissingRules(t *testing.T) {
	dir, tl := setup(t, "")
	r := runTool(t, tl)
	want := "simscanmk: no " + filepath.Join(dir, rulesFile) + ": not building simcontrol.cdb\n"
	if r.code != exitFail || r.stderr != want {
		t.Errorf("build without simcontrol = %+v, want stderr %q", r, want)
	}
}

func TestCheck(t *testing.T) {
	dir, tl := setup(t, "bad.simcontrol")
	r := runTool(t, tl, "-c")
	if r.code != exitFail {
		t.Errorf("-c on errors exited %d", r.code)
	}
	checkStderr(t, r.stderr)
	// stderr is the golden list of problems, with the path and prefix.
	golden, err := os.ReadFile(filepath.Join(testdata, "bad.problems"))
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, l := range strings.SplitAfter(strings.TrimSuffix(string(golden), "\n"), "\n") {
		want.WriteString("simscanmk: " + filepath.Join(dir, l))
	}
	want.WriteString("\n")
	if r.stderr != want.String() {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want.String())
	}
	if wantOut := filepath.Join(dir, rulesFile) + ": 11 errors, 9 warnings\n"; r.stdout != wantOut {
		t.Errorf("stdout %q, want %q", r.stdout, wantOut)
	}
	if _, err := os.Stat(filepath.Join(dir, rulesCDB)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("-c built simcontrol.cdb: %v", err)
	}

	dir, tl = setup(t, "simcontrol")
	r = runTool(t, tl, "-c")
	if r.code != exitOK || r.stderr != "" || r.stdout != filepath.Join(dir, rulesFile)+": 0 errors, 0 warnings\n" {
		t.Errorf("-c on good rules = %+v", r)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("-c changed the control directory: %v", entries)
	}
}

func TestCheckExtraChecks(t *testing.T) {
	dir, tl := setup(t, "simcontrol")
	var gotDir string
	tl.checks = []func(string) []rules.Problem{
		func(d string) []rules.Problem {
			gotDir = d
			return []rules.Problem{{File: filepath.Join(d, "simscan.conf"), Line: 3, Severity: rules.Warning, Msg: "unknown setting foo"}}
		},
	}
	r := runTool(t, tl, "-c")
	if r.code != exitOK || gotDir != dir {
		t.Errorf("-c with a warning from an extra check = %+v, dir %q", r, gotDir)
	}
	if want := "simscanmk: " + filepath.Join(dir, "simscan.conf") + ":3: warning: unknown setting foo\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	tl.checks = append(tl.checks, func(d string) []rules.Problem {
		return []rules.Problem{{File: filepath.Join(d, "simscan.conf"), Line: 4, Severity: rules.Error, Msg: "bad timeout"}}
	})
	if r := runTool(t, tl, "-c"); r.code != exitFail {
		t.Errorf("-c with an error from an extra check exited %d", r.code)
	}
	// Without simcontrol the extra checks still run.
	_, tl = setup(t, "")
	ran := false
	tl.checks = []func(string) []rules.Problem{func(string) []rules.Problem { ran = true; return nil }}
	r = runTool(t, tl, "-c")
	if r.code != exitOK || !ran || !strings.Contains(r.stdout, "global mode") {
		t.Errorf("-c without simcontrol = %+v, extra check ran %v", r, ran)
	}
}

func TestQuery(t *testing.T) {
	dir, tl := setup(t, "simcontrol")
	if r := runTool(t, tl); r.code != exitOK {
		t.Fatalf("build: %+v", r)
	}
	r := runTool(t, tl, "-q", "", "Test-List-Owner@test.ch", "boss@other.org")
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("-q = %+v", r)
	}
	want := `sender         <>
recipient      <Test-List-Owner@test.ch>
recipient      <boss@other.org>
entries found  default, @, test.ch, test@test.ch, test-list@test.ch, test-list-owner@test.ch, other.org, boss@other.org

option         value                        set by
clam           yes                          boss@other.org
spam           no                           test@test.ch
spam_hits      5                            test.ch
spam_passthru  -                            not set
spamuser       shared                       other.org
trophie        yes                          default
attach         .exe:.scr                    test-list@test.ch
regex          ^subject\x3a\sviagra:casino  boss@other.org
qmailqueue     /var/qmail/bin/qmail-queue   boss@other.org
quarantine     yes                          other.org
`
	if r.stdout != want {
		t.Errorf("-q printed\n%s\nwant\n%s", r.stdout, want)
	}

	r = runTool(t, tl, "-q", "nobody@nowhere.example")
	if r.code != exitOK || !strings.Contains(r.stdout, "entries found  default\n") || !strings.Contains(r.stdout, "clam           yes    default\n") {
		t.Errorf("-q with only the sender = %+v", r)
	}

	// simcontrol edited after the build: -q says so.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, rulesFile), later, later); err != nil {
		t.Fatal(err)
	}
	r = runTool(t, tl, "-q", "a@b.c")
	if r.code != exitOK || !strings.Contains(r.stderr, "is newer than") {
		t.Errorf("-q with a stale simcontrol.cdb = %+v", r)
	}
	checkStderr(t, r.stderr)
}

func TestQueryGlobalMode(t *testing.T) {
	dir, tl := setup(t, "simcontrol")
	r := runTool(t, tl, "-q", "a@b.c", "d@e.f")
	want := "no " + filepath.Join(dir, rulesCDB) + ": no per-domain rules, global mode applies\n"
	if r.code != exitOK || r.stdout != want || r.stderr != "" {
		t.Errorf("-q without simcontrol.cdb = %+v, want stdout %q", r, want)
	}
}

func TestDump(t *testing.T) {
	_, tl := setup(t, "simcontrol")
	if r := runTool(t, tl); r.code != exitOK {
		t.Fatalf("build: %+v", r)
	}
	r := runTool(t, tl, "-d")
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("-d = %+v", r)
	}
	// The dump is the rules file less comments and blank lines, keys and
	// options lower-cased but the default's.
	src, err := os.ReadFile(filepath.Join(testdata, "simcontrol"))
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, l := range strings.Split(string(src), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		if l[0] != ':' {
			l = strings.ToLower(l)
		}
		want.WriteString(l + "\n")
	}
	if r.stdout != want.String() {
		t.Errorf("-d printed\n%s\nwant\n%s", r.stdout, want.String())
	}
	// What -d prints builds the same rules again.
	_, tl2 := setup(t, "")
	dir2 := tl2.getenv("SIMSCAN_CONTROLDIR")
	if err := os.WriteFile(filepath.Join(dir2, rulesFile), []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if r2 := runTool(t, tl2); r2.code != exitOK {
		t.Fatalf("rebuild from the dump: %+v", r2)
	}
	if again := runTool(t, tl2, "-d"); again.stdout != r.stdout {
		t.Errorf("dump of the rebuilt rules differs:\n%s", again.stdout)
	}
}

func TestDumpMissing(t *testing.T) {
	_, tl := setup(t, "")
	r := runTool(t, tl, "-d")
	if r.code != exitOK || !strings.Contains(r.stdout, "global mode") {
		t.Errorf("-d without simcontrol.cdb = %+v", r)
	}
}

func TestDumpCorrupt(t *testing.T) {
	dir, tl := setup(t, "")
	if err := os.WriteFile(filepath.Join(dir, rulesCDB), []byte("not a cdb file"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-d"}, {"-q", "a@b.c"}} {
		r := runTool(t, tl, args...)
		if r.code != exitFail || !strings.Contains(r.stderr, "corrupt") {
			t.Errorf("%v on a corrupt simcontrol.cdb = %+v", args, r)
		}
		checkStderr(t, r.stderr)
	}
}

func TestVersions(t *testing.T) {
	dir, tl := setup(t, "")
	r := runTool(t, tl, "-g")
	path := filepath.Join(dir, versionsFile)
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("-g = %+v", r)
	}
	if want := "built " + path + "\nattach: 1.2.3\nregex: 1.2.3\n"; r.stdout != want {
		t.Errorf("-g printed %q, want %q", r.stdout, want)
	}
	got, err := rules.ReadVersions(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"attach": "1.2.3", "regex": "1.2.3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("simversions.cdb holds %v, want %v", got, want)
	}

	// A failure to find the versions leaves the old file.
	tl.versions = func(string) (map[string]string, error) { return nil, errors.New("spamassassin not found") }
	r = runTool(t, tl, "-g")
	if r.code != exitFail || !strings.Contains(r.stderr, "spamassassin not found") {
		t.Errorf("-g with a failing scanner = %+v", r)
	}
	checkStderr(t, r.stderr)
	if got, _ := rules.ReadVersions(path); got["attach"] != "1.2.3" {
		t.Errorf("a failed -g changed simversions.cdb: %v", got)
	}
}

func TestDefaultVersions(t *testing.T) {
	old := version
	version = "9.9"
	defer func() { version = old }()
	got, err := scannerVersions("/nonexistent")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"attach": "9.9", "regex": "9.9"}; !reflect.DeepEqual(got, want) {
		t.Errorf("scannerVersions = %v, want %v", got, want)
	}
}

func TestUsage(t *testing.T) {
	_, tl := setup(t, "simcontrol")
	for _, args := range [][]string{
		{"-x"},
		{"-c", "-d"},
		{"-q"},
		{"extra"},
		{"-c", "extra"},
	} {
		r := runTool(t, tl, args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "usage: simscanmk") || r.stdout != "" {
			t.Errorf("%q = %+v, want usage and exit 2", args, r)
		}
		checkStderr(t, r.stderr)
	}
	r := runTool(t, tl, "-h")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "usage: simscanmk") || !strings.Contains(r.stdout, "/nonexistent/control") {
		t.Errorf("-h = %+v", r)
	}
}

func TestControlDir(t *testing.T) {
	// Without SIMSCAN_CONTROLDIR the built-in directory is used.
	_, tl := setup(t, "")
	tl.controlDir = t.TempDir()
	tl.getenv = func(string) string { return "" }
	if r := runTool(t, tl, "-g"); r.code != exitOK {
		t.Fatalf("-g = %+v", r)
	}
	if _, err := os.Stat(filepath.Join(tl.controlDir, versionsFile)); err != nil {
		t.Errorf("-g did not write to the built-in control directory: %v", err)
	}

	// -X main.controlDir wins over the project-wide default.
	old := controlDir
	defer func() { controlDir = old }()
	controlDir = "/etc/simscan"
	if got := defaultControlDir(); got != "/etc/simscan" {
		t.Errorf("defaultControlDir() = %q with controlDir set", got)
	}
	controlDir = builtinControlDir
	if got := defaultControlDir(); got != "/var/qmail/control" {
		t.Errorf("defaultControlDir() = %q by default", got)
	}
}

// TestLdflags builds the command with the control directory and version
// set the way the Makefile does and runs it.
func TestLdflags(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(t.TempDir(), "simscanmk")
	build := exec.Command("go", "build", "-o", bin, "-ldflags", "-X main.controlDir="+dir+" -X main.version=7.7.7", ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-g")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("simscanmk -g: %v\n%s", err, out)
	}
	got, err := rules.ReadVersions(filepath.Join(dir, versionsFile))
	if err != nil {
		t.Fatal(err)
	}
	if got["attach"] != "7.7.7" {
		t.Errorf("simversions.cdb holds %v", got)
	}
}
