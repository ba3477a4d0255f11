package mime

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// FuzzSplit walks arbitrary input, seeded with the corpus. It must not
// panic, must fail only with a *LimitError when reading from memory, and
// must report only normalised names.
func FuzzSplit(f *testing.F) {
	files, err := corpusGlob()
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		if len(data) < 64<<10 {
			f.Add(data)
		}
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\n\n--a\n\n--a--\n"))
	f.Add([]byte("Content-Type: text/plain\n\nbegin 644 a.exe\n#86)C\n`\nend\n"))
	f.Add(makeGzip("x.tar", makeTar(tarEntry{name: "a.exe", data: []byte("MZ")})))
	f.Add(makeTNEF(tnefAttachment{title: "A.EXE", longName: "a.exe", data: []byte("MZ")}))
	// Small limits keep each run short; what they guard is tested elsewhere.
	lim := Limits{MaxDepth: 8, MaxParts: 64, MaxArchiveDepth: 3, MaxArchiveMembers: 64, MaxDecodedBytes: 4 << 20, MaxRatio: 100, MaxHeaderBytes: 64 << 10}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Split(bytes.NewReader(data), Options{Archives: true, Limits: lim})
		if res == nil {
			t.Fatal("nil result")
		}
		if err != nil {
			var le *LimitError
			if !errors.As(err, &le) {
				t.Fatalf("error %v is not a limit", err)
			}
		}
		if len(res.Problems) > maxProblems {
			t.Fatalf("%d problems kept", len(res.Problems))
		}
		for _, n := range res.Names() {
			if n.Name == "" || Normalize(n.Name) != n.Name {
				t.Fatalf("name %q is not normalised", n.Name)
			}
			if n.Part < 0 || n.Part >= len(res.Parts) {
				t.Fatalf("name %q points at part %d of %d", n.Name, n.Part, len(res.Parts))
			}
		}
		for _, p := range res.Parts {
			if p.Size < 0 || p.File != "" {
				t.Fatalf("part %+v", p)
			}
			if len(p.Names) > len(p.RawNames) {
				t.Fatalf("more names than raw names: %+v", p)
			}
		}
	})
}
