package install

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/gosimscan/simscan/control"
	"github.com/gosimscan/simscan/control/rules"
)

// settingLine is a commented-out setting of simscan.conf.example: "#key =
// value" at the start of a line. Examples inside the prose are indented
// ("#   key = value") and do not match.
var settingLine = regexp.MustCompile(`^#([a-z_]+) =(.*)$`)

// TestConfExample checks that contrib/simscan.conf.example lists every
// simscan.conf key exactly once, and that removing every # in front of a
// setting parses and changes nothing: the values shown are the defaults.
func TestConfExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(moduleRoot(t), "contrib", "simscan.conf.example"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	var uncommented strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		if m := settingLine.FindStringSubmatch(line); m != nil {
			seen[m[1]]++
			uncommented.WriteString(strings.TrimPrefix(line, "#") + "\n")
		}
	}
	for _, k := range control.Keys() {
		if seen[k[0]] != 1 {
			t.Errorf("key %s appears %d times as a setting, want once", k[0], seen[k[0]])
		}
		delete(seen, k[0])
	}
	for k := range seen {
		t.Errorf("the example sets %s, which is not a simscan.conf key", k)
	}

	got := control.Defaults()
	if errs := control.Parse(&got, strings.NewReader(uncommented.String()), "simscan.conf.example"); len(errs) > 0 {
		t.Fatalf("the settings do not parse: %v", errs)
	}
	want := control.Defaults()
	// The per-scanner overrides are shown with the value they follow
	// when unset; what counts is that the effect is the same.
	for _, s := range []string{"clamd", "spamd", "trophie"} {
		if got.ErrorActionFor(s) != want.ErrorActionFor(s) {
			t.Errorf("%s_on_error: %s, default %s", s, got.ErrorActionFor(s), want.ErrorActionFor(s))
		}
	}
	got.ClamdOnError, got.SpamdOnError, got.TrophieOnError = "", "", ""
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the example's values are not the defaults:\ngot  %+v\nwant %+v", got, want)
	}

	// The Debian addresses in the prose are valid values.
	for _, ex := range []string{"clamd = unix:/var/run/clamav/clamd.ctl", "spamd = 127.0.0.1:783"} {
		if !strings.Contains(string(data), "#   "+ex+"\n") {
			t.Errorf("the example does not suggest %q", ex)
		}
		c := control.Defaults()
		if errs := control.Parse(&c, strings.NewReader(ex), "example"); len(errs) > 0 {
			t.Errorf("%q: %v", ex, errs)
		}
	}
}

// TestSimcontrolExample checks that every entry of
// contrib/simcontrol.example, with its # removed, is a valid simcontrol
// line, and that the file as shipped has no active entry.
func TestSimcontrolExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(moduleRoot(t), "contrib", "simcontrol.example"))
	if err != nil {
		t.Fatal(err)
	}
	entries, problems, err := rules.Parse(strings.NewReader(string(data)), "simcontrol.example")
	if err != nil || len(entries) != 0 || len(problems) != 0 {
		t.Fatalf("as shipped: %d entries, problems %v, error %v; want none", len(entries), problems, err)
	}
	var active strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		// An entry is "#" directly followed by an address, domain or ':'.
		if len(line) > 1 && line[0] == '#' && line[1] != ' ' && strings.Contains(line, "=") {
			active.WriteString(line[1:] + "\n")
		}
	}
	entries, problems, err = rules.Parse(strings.NewReader(active.String()), "simcontrol.example")
	if err != nil || len(problems) != 0 {
		t.Fatalf("uncommented: problems %v, error %v", problems, err)
	}
	if len(entries) != 4 || entries[0].Key != "" {
		t.Errorf("uncommented: %d entries, first %q; want 4, the default first", len(entries), entries[0].Key)
	}
}

// TestSsattachExample checks that contrib/ssattach.example blocks nothing
// as shipped and that its suggestions are extensions.
func TestSsattachExample(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(moduleRoot(t), "contrib", "ssattach.example"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ssattach"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	list, err := control.ReadAttachList(dir)
	if err != nil || len(list) != 0 {
		t.Fatalf("as shipped: %v, %v; want an empty list", list, err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "#.") {
			n++
			if ext := line[1:]; strings.ContainsAny(ext, " \t") || ext != strings.ToLower(ext) {
				t.Errorf("suggestion %q", ext)
			}
		}
	}
	if n == 0 {
		t.Error("no suggested extensions")
	}
}
