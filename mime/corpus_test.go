package mime

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/mime/golden.json")

// goldenPart is how a Part appears in the golden file.
type goldenPart struct {
	Type     string         `json:"type"`
	Origin   string         `json:"origin"`
	Size     int64          `json:"size"`
	RawNames []string       `json:"raw_names,omitempty"`
	Names    []string       `json:"names,omitempty"`
	Members  []goldenMember `json:"members,omitempty"`
}

type goldenMember struct {
	Raw       string         `json:"raw"`
	Name      string         `json:"name"`
	Encrypted bool           `json:"encrypted,omitempty"`
	Size      int64          `json:"size"`
	Members   []goldenMember `json:"members,omitempty"`
}

// goldenMessage is one message's entry in the golden file.
type goldenMessage struct {
	Names    []string     `json:"names"`
	Error    string       `json:"error,omitempty"`
	Problems []string     `json:"problems,omitempty"`
	Parts    []goldenPart `json:"parts"`
}

func goldenMembers(ms []Member) []goldenMember {
	var out []goldenMember
	for _, m := range ms {
		out = append(out, goldenMember{Raw: m.RawName, Name: m.Name, Encrypted: m.Encrypted, Size: m.Size, Members: goldenMembers(m.Members)})
	}
	return out
}

func corpusGlob() ([]string, error) {
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.eml"))
	sort.Strings(files)
	return files, err
}

func corpusFiles(t testing.TB) []string {
	t.Helper()
	files, err := corpusGlob()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 40 {
		t.Fatalf("found %d corpus messages, want at least 40", len(files))
	}
	return files
}

// TestCorpus splits every corpus message with archives on and files
// written, and compares what it found with the golden file.
func TestCorpus(t *testing.T) {
	got := map[string]goldenMessage{}
	for _, file := range corpusFiles(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		res, err := Split(bytes.NewReader(data), Options{Dir: dir, Archives: true})
		var g goldenMessage
		if err != nil {
			var le *LimitError
			if !errors.As(err, &le) {
				t.Fatalf("%s: unexpected error %v", file, err)
			}
			g.Error = err.Error()
		}
		g.Names = []string{}
		for _, n := range res.Names() {
			s := n.Name
			if n.Encrypted {
				s += " (encrypted)"
			}
			g.Names = append(g.Names, s)
		}
		g.Problems = res.Problems
		for _, p := range res.Parts {
			g.Parts = append(g.Parts, goldenPart{Type: p.ContentType, Origin: p.Origin, Size: p.Size, RawNames: p.RawNames, Names: p.Names, Members: goldenMembers(p.Members)})
			checkPartFile(t, file, dir, p)
		}
		got[filepath.Base(file)] = g
	}
	out, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, '\n')
	golden := filepath.Join(corpusDir, "golden.json")
	if *update {
		if err := os.WriteFile(golden, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, want) {
		var w map[string]goldenMessage
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		for name, g := range got {
			a, _ := json.MarshalIndent(g, "", "  ")
			b, _ := json.MarshalIndent(w[name], "", "  ")
			if !bytes.Equal(a, b) {
				t.Errorf("%s differs from golden.json:\ngot  %s\nwant %s", name, a, b)
			}
		}
		for name := range w {
			if _, ok := got[name]; !ok {
				t.Errorf("%s is in golden.json but not in the corpus", name)
			}
		}
		t.Error("run go test ./mime -run TestCorpus -update after checking the difference")
	}
}

// checkPartFile checks that a part written to Dir holds Size bytes under a
// generated name.
func checkPartFile(t *testing.T, msg, dir string, p Part) {
	t.Helper()
	if p.File == "" {
		return
	}
	if filepath.Base(p.File) != p.File || len(p.File) < len("part-0001") || p.File[:5] != "part-" {
		t.Errorf("%s: file name %q is not a generated one", msg, p.File)
		return
	}
	fi, err := os.Stat(filepath.Join(dir, p.File))
	if err != nil {
		t.Errorf("%s: %v", msg, err)
		return
	}
	if fi.Size() != p.Size {
		t.Errorf("%s: %s holds %d bytes, part size is %d", msg, p.File, fi.Size(), p.Size)
	}
}

// TestPythonNames checks that every name Python's email package finds in a
// corpus message is, normalised, among the names Split reports for it.
// Limits are raised so that the messages built to hit them are read whole,
// as Python reads them.
func TestPythonNames(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed for this test: %v", err)
	}
	files := corpusFiles(t)
	cmd := exec.Command(py, append([]string{filepath.Join(corpusDir, "python_names.py")}, files...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python_names.py: %v", err)
	}
	var pyNames map[string][]any
	if err := json.Unmarshal(out, &pyNames); err != nil {
		t.Fatalf("python_names.py output: %v", err)
	}
	if len(pyNames) != len(files) {
		t.Fatalf("python_names.py reported %d messages, want %d", len(pyNames), len(files))
	}
	lim := Limits{MaxParts: 100000, MaxDepth: 100}
	checked := 0
	for _, file := range files {
		base := filepath.Base(file)
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Split(bytes.NewReader(data), Options{Limits: lim})
		if err != nil {
			t.Errorf("%s: %v", base, err)
			continue
		}
		ours := map[string]bool{}
		for _, n := range res.Names() {
			ours[n.Name] = true
		}
		for _, v := range pyNames[base] {
			name, ok := v.(string)
			if !ok {
				t.Errorf("%s: python could not read a name: %v", base, v)
				continue
			}
			n := Normalize(name)
			if n == "" {
				continue
			}
			checked++
			if !ours[n] {
				t.Errorf("%s: python finds %q (normalised %q), Split reports %v", base, name, n, res.Names())
			}
		}
	}
	if checked < 40 {
		t.Errorf("only %d python names checked; the corpus should give more", checked)
	}
}
