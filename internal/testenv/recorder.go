package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Recorded is one run of testdata/qmail-queue-recorder.
type Recorded struct {
	ID  string // "<unixnano>.<pid>": records sort by time
	Msg []byte // the message read from descriptor 0
	Env []byte // the envelope read from descriptor 1, up to its final "\0"
	// Args is the recorder's args file: "argv <n> <value>" lines, then
	// "env NAME=VALUE" lines for its whole environment, sorted.
	Args    string
	Argv    []string
	Environ map[string]string // its environment, from Args
	NoRead  bool              // it ran with RECORDER_NOREAD=1 and read nothing
}

var recorder struct {
	once sync.Once
	path string
	err  error
}

// BuildRecorder builds testdata/qmail-queue-recorder once per test binary and
// returns the path of the program. The binary is kept in a directory of the
// system temp directory named after a hash of its source and the Go version,
// so later test binaries reuse it; it is built under a temporary name and
// renamed into place, so concurrent test binaries do not see a partial file.
func BuildRecorder(t testing.TB) string {
	t.Helper()
	root := ModuleRoot(t)
	recorder.once.Do(func() { recorder.path, recorder.err = buildRecorder(root) })
	if recorder.err != nil {
		t.Fatalf("testenv: build qmail-queue-recorder: %v", recorder.err)
	}
	return recorder.path
}

func buildRecorder(root string) (string, error) {
	src := filepath.Join(root, "testdata", "qmail-queue-recorder")
	code, err := os.ReadFile(filepath.Join(src, "main.go"))
	if err != nil {
		return "", err
	}
	goTool, err := findGo()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append(code, runtime.Version()+runtime.GOOS+runtime.GOARCH...))
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("simscan-recorder-%d-%s", os.Getuid(), hex.EncodeToString(sum[:8])))
	bin := filepath.Join(dir, "qmail-queue-recorder")
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return "", err
	}
	// Reuse only a directory that is ours and that nobody else can write.
	var st syscall.Stat_t
	if err := syscall.Lstat(dir, &st); err != nil {
		return "", err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR || int(st.Uid) != os.Getuid() || st.Mode&0o022 != 0 {
		return "", fmt.Errorf("%s is not a directory of our own that only we can write", dir)
	}
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	tmp, err := os.CreateTemp(dir, ".build-")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command(goTool, "build", "-trimpath", "-o", tmp.Name(), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// findGo finds the go command: on PATH, else in $GOROOT/bin, else in the
// usual install location.
func findGo() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	for _, p := range []string{filepath.Join(os.Getenv("GOROOT"), "bin", "go"), "/usr/local/go/bin/go"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("no go command on PATH, in $GOROOT/bin or /usr/local/go/bin")
}

// ReadRecorded returns the records in dir, the recorder's RECORDER_DIR,
// oldest first. Records still being written are hidden under a temporary
// name and not returned.
func ReadRecorded(t testing.TB, dir string) []Recorded {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	var recs []Recorded
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		r := Recorded{ID: e.Name(), Environ: map[string]string{}}
		read := func(name string) []byte {
			data, err := os.ReadFile(filepath.Join(dir, e.Name(), name))
			if os.IsNotExist(err) && name != "args" {
				r.NoRead = true
				return nil
			}
			if err != nil {
				t.Fatalf("testenv: %v", err)
			}
			return data
		}
		r.Msg, r.Env = read("msg"), read("env")
		r.Args = string(read("args"))
		for _, line := range strings.Split(r.Args, "\n") {
			if v, ok := strings.CutPrefix(line, "env "); ok {
				k, v, _ := strings.Cut(v, "=")
				r.Environ[k] = v
			} else if v, ok := strings.CutPrefix(line, "argv "); ok {
				if _, a, ok := strings.Cut(v, " "); ok {
					r.Argv = append(r.Argv, a)
				}
			}
		}
		recs = append(recs, r)
	}
	sort.Slice(recs, func(i, j int) bool { return recordKey(recs[i].ID) < recordKey(recs[j].ID) })
	return recs
}

// recordKey orders IDs by time, then PID.
func recordKey(id string) string {
	ns, pid, _ := strings.Cut(id, ".")
	n, _ := strconv.Atoi(pid)
	return fmt.Sprintf("%s.%010d", ns, n)
}
