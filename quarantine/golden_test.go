package quarantine

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/quarantine")

const goldenDir = "../testdata/quarantine"

// TestViewGolden shows testdata/quarantine/*.eml and compares the view with
// the .view file beside it; -update rewrites the .view files.
func TestViewGolden(t *testing.T) {
	emls, err := filepath.Glob(filepath.Join(goldenDir, "*.eml"))
	if err != nil || len(emls) == 0 {
		t.Fatalf("no messages in %s (%v)", goldenDir, err)
	}
	for _, eml := range emls {
		msg, err := os.ReadFile(eml)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := View(&out, bytes.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
		if bad, ok := harmless(out.String()); !ok {
			t.Errorf("%s: view holds %q", eml, bad)
		}
		golden := eml[:len(eml)-len(".eml")] + ".view"
		if *update {
			if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Errorf("view of %s differs from %s (run with -update, then review the diff):\n%s", eml, golden, out.String())
		}
	}
}
