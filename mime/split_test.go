package mime

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// names returns the normalised names of a result, as strings.
func names(r *Result) []string {
	var out []string
	for _, n := range r.Names() {
		out = append(out, n.Name)
	}
	return out
}

func split(t *testing.T, msg string, opt Options) (*Result, error) {
	t.Helper()
	res, err := Split(strings.NewReader(msg), opt)
	if res == nil {
		t.Fatalf("Split returned no result (err %v)", err)
	}
	return res, err
}

func wantLimit(t *testing.T, err error, limit string) *LimitError {
	t.Helper()
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("error = %v, want a *LimitError for %s", err, limit)
	}
	if le.Limit != limit {
		t.Fatalf("limit = %q, want %q (%v)", le.Limit, limit, err)
	}
	if le.Seen <= le.Max {
		t.Fatalf("LimitError seen %d not above max %d", le.Seen, le.Max)
	}
	return le
}

func TestLimitErrorText(t *testing.T) {
	err := error(&LimitError{Limit: LimitParts, Max: 1000, Seen: 1001})
	if got, want := err.Error(), "mime: part count limit 1000 exceeded"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestDefaultLimits(t *testing.T) {
	d := DefaultLimits()
	want := Limits{MaxDepth: 20, MaxParts: 1000, MaxArchiveDepth: 4, MaxArchiveMembers: 10000, MaxDecodedBytes: 200 << 20, MaxRatio: 100, MaxHeaderBytes: 1 << 20}
	if d != want {
		t.Errorf("DefaultLimits() = %+v, want %+v", d, want)
	}
	if got := (Limits{MaxParts: 5}).withDefaults(); got.MaxParts != 5 || got.MaxDepth != 20 {
		t.Errorf("withDefaults kept %+v", got)
	}
}

func TestPartLimitKeepsWhatWasFound(t *testing.T) {
	msg := mixed(attach("", "; filename=\"first.exe\"", exe), attach("", "; filename=\"second.exe\"", exe), attach("", "; filename=\"third.exe\"", exe))
	// Root, first and second part: the third part is one too many.
	res, err := split(t, msg, Options{Limits: Limits{MaxParts: 3}})
	le := wantLimit(t, err, LimitParts)
	if le.Max != 3 {
		t.Errorf("Max = %d, want 3", le.Max)
	}
	if got := strings.Join(names(res), ","); got != "first.exe,second.exe" {
		t.Errorf("names so far = %s, want first.exe,second.exe", got)
	}
}

func TestDepthLimit(t *testing.T) {
	msg := mixed(rfc822("", innerMixed("b2", rfc822("", innerMixed("b3", attach("", "; filename=\"deep.exe\"", exe))))))
	// Depths: message 0, part 1, inner message 2, part 3, inner 4, part 5.
	res, err := split(t, msg, Options{Limits: Limits{MaxDepth: 5}})
	if err != nil {
		t.Fatalf("depth 5 within limit 5: %v", err)
	}
	if got := strings.Join(names(res), ","); got != "deep.exe" {
		t.Errorf("names = %s", got)
	}
	_, err = split(t, msg, Options{Limits: Limits{MaxDepth: 4}})
	wantLimit(t, err, LimitDepth)
}

func TestDecodedBytesLimit(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	msg := mixed(attach("", "; filename=\"big.bin\"", big))
	res, err := split(t, msg, Options{Limits: Limits{MaxDecodedBytes: 512 << 10}})
	wantLimit(t, err, LimitDecodedBytes)
	if got := strings.Join(names(res), ","); got != "big.bin" {
		t.Errorf("names = %s, want big.bin", got)
	}
	if _, err := split(t, msg, Options{Limits: Limits{MaxDecodedBytes: 2 << 20}}); err != nil {
		t.Errorf("1 MiB within 2 MiB: %v", err)
	}
}

func TestDecodedBytesCountsArchiveMembers(t *testing.T) {
	// 600 KiB of text compresses well under the ratio limit only if it is
	// not all one byte; the zip itself is small, its member is not.
	var text bytes.Buffer
	for i := 0; text.Len() < 600<<10; i++ {
		fmt.Fprintf(&text, "line %d of a long and boring log file\n", i)
	}
	msg := mixed(attach("", "; filename=\"log.zip\"", makeZip(zipEntry{name: "log.txt", data: text.Bytes()})))
	_, err := split(t, msg, Options{Archives: true, Limits: Limits{MaxDecodedBytes: 512 << 10}})
	wantLimit(t, err, LimitDecodedBytes)
	if _, err := split(t, msg, Options{Archives: false, Limits: Limits{MaxDecodedBytes: 512 << 10}}); err != nil {
		t.Errorf("without Archives the member is not read: %v", err)
	}
}

func TestRatioLimitZip(t *testing.T) {
	msg := mixed(attach("", "; filename=\"bomb.zip\"", makeZip(zipEntry{name: "zeros", data: make([]byte, 8<<20)})))
	res, err := split(t, msg, Options{Archives: true})
	wantLimit(t, err, LimitRatio)
	if got := strings.Join(names(res), ","); got != "bomb.zip,zeros" {
		t.Errorf("names = %s", got)
	}
	// The walk stopped soon after the ratio was exceeded, long before the
	// member's 8 MiB.
	if m := res.Parts[0].Members[0]; m.Size > 2<<20 {
		t.Errorf("read %d bytes of the bomb before stopping", m.Size)
	}
}

func TestRatioLimitGzip(t *testing.T) {
	msg := mixed(attach("", "; filename=\"x.gz\"", makeGzip("zeros.exe", make([]byte, 8<<20))))
	res, err := split(t, msg, Options{Archives: true})
	wantLimit(t, err, LimitRatio)
	if got := strings.Join(names(res), ","); got != "x.gz,zeros.exe" {
		t.Errorf("names = %s", got)
	}
}

func TestRatioAllowsSmallCompressibleFiles(t *testing.T) {
	// 512 KiB of blanks compresses far beyond 100:1 but stays under the
	// slack, as a page of spaces in a real archive would.
	msg := mixed(attach("", "; filename=\"blank.zip\"", makeZip(zipEntry{name: "blank.txt", data: bytes.Repeat([]byte(" "), 512<<10)})))
	res, err := split(t, msg, Options{Archives: true})
	if err != nil {
		t.Fatal(err)
	}
	if m := res.Parts[0].Members[0]; m.Size != 512<<10 {
		t.Errorf("member size = %d, want %d", m.Size, 512<<10)
	}
}

func TestArchiveMemberLimit(t *testing.T) {
	var entries []zipEntry
	for i := 0; i < 20; i++ {
		entries = append(entries, zipEntry{name: fmt.Sprintf("f%02d.txt", i), data: []byte("x")})
	}
	msg := mixed(attach("", "; filename=\"many.zip\"", makeZip(entries...)))
	_, err := split(t, msg, Options{Archives: true, Limits: Limits{MaxArchiveMembers: 10}})
	le := wantLimit(t, err, LimitArchiveMembers)
	if le.Seen != 20 {
		t.Errorf("seen = %d, want the declared 20", le.Seen)
	}
	// Tar has no directory to count in advance: members are counted as read.
	var tentries []tarEntry
	for i := 0; i < 20; i++ {
		tentries = append(tentries, tarEntry{name: fmt.Sprintf("f%02d.txt", i), data: []byte("x")})
	}
	msg = mixed(attach("", "; filename=\"many.tar\"", makeTar(tentries...)))
	res, err := split(t, msg, Options{Archives: true, Limits: Limits{MaxArchiveMembers: 10}})
	wantLimit(t, err, LimitArchiveMembers)
	if got := len(res.Parts[0].Members); got != 10 {
		t.Errorf("members so far = %d, want 10", got)
	}
}

func TestArchiveDepthLimit(t *testing.T) {
	inner := makeZip(zipEntry{name: "core.exe", data: exe})
	inner = makeZip(zipEntry{name: "l2.zip", data: inner})
	outer := makeZip(zipEntry{name: "l1.zip", data: inner})
	msg := mixed(attach("", "; filename=\"outer.zip\"", outer))
	res, err := split(t, msg, Options{Archives: true, Limits: Limits{MaxArchiveDepth: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(res), ","); got != "outer.zip,l1.zip,l2.zip,core.exe" {
		t.Errorf("names = %s", got)
	}
	_, err = split(t, msg, Options{Archives: true, Limits: Limits{MaxArchiveDepth: 2}})
	wantLimit(t, err, LimitArchiveDepth)
}

func TestHeaderLimit(t *testing.T) {
	msg := "Subject: " + strings.Repeat("x", 2<<20) + "\n\nbody\n"
	_, err := split(t, msg, Options{})
	wantLimit(t, err, LimitHeaderBytes)
	msg = strings.Repeat("X-Filler: yes\n", 100000) + "\nbody\n"
	_, err = split(t, msg, Options{})
	wantLimit(t, err, LimitHeaderBytes)
}

func TestArchivesOff(t *testing.T) {
	msg := mixed(attach("", "; filename=\"setup.zip\"", makeZip(zipEntry{name: "setup.exe", data: exe})))
	res, err := split(t, msg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(res), ","); got != "setup.zip" {
		t.Errorf("names = %s, want only the part name", got)
	}
}

func TestArchiveFoundByContent(t *testing.T) {
	// A zip sent as an innocent looking PDF, and one with no name at all.
	z := makeZip(zipEntry{name: "run.exe", data: exe})
	msg := mixed(attach("", "; filename=\"invoice.pdf\"", z), attach("", "-", z))
	res, err := split(t, msg, Options{Archives: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []Name{{Name: "invoice.pdf", Part: 0}, {Name: "run.exe", Part: 0}, {Name: "run.exe", Part: 1}}
	if got := res.Names(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
}

func TestEncryptedMember(t *testing.T) {
	msg := mixed(attach("", "; filename=\"locked.zip\"", makeZip(zipEntry{name: "dir/secret.exe", data: exe, encrypted: true})))
	res, err := split(t, msg, Options{Archives: true})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Parts[0].Members[0]
	if !m.Encrypted || m.RawName != "dir/secret.exe" || m.Name != "secret.exe" || m.Size != 0 {
		t.Errorf("member = %+v", m)
	}
	if got := res.Names()[1]; got != (Name{Name: "secret.exe", Encrypted: true, Part: 0}) {
		t.Errorf("name = %+v", got)
	}
}

func TestDirFiles(t *testing.T) {
	dir := t.TempDir()
	text := "hello\n"
	msg := mixed(
		"Content-Type: text/plain\n\n"+text+uuencode("../../uu.exe", exe),
		attach("", "; filename=\"../../../../tmp/evil.exe\"", exe),
		attach("", "; filename=\"/etc/passwd\"", pdf),
	)
	res, err := split(t, msg, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		file string
		data []byte
	}{
		// The line end before a boundary belongs to the boundary.
		{"part-0001", []byte(text + strings.TrimSuffix(uuencode("../../uu.exe", exe), "\n"))},
		{"part-0002", exe},
		{"part-0003", exe},
		{"part-0004", pdf},
	}
	if len(res.Parts) != len(want) {
		t.Fatalf("%d parts, want %d", len(res.Parts), len(want))
	}
	for i, w := range want {
		p := res.Parts[i]
		if p.File != w.file {
			t.Errorf("part %d file = %q, want %q", i, p.File, w.file)
			continue
		}
		got, err := os.ReadFile(filepath.Join(dir, p.File))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, w.data) {
			t.Errorf("%s holds %q, want %q", p.File, got, w.data)
		}
	}
	if res.Parts[1].Origin != OriginUuencode || res.Parts[1].Names[0] != "uu.exe" {
		t.Errorf("part 1 = %+v, want the uuencoded file", res.Parts[1])
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 {
		t.Errorf("dir holds %d entries, want 4", len(entries))
	}
	// Files are never replaced: a second Split into the same directory fails.
	if _, err := split(t, msg, Options{Dir: dir}); !errors.Is(err, os.ErrExist) {
		t.Errorf("second split into the same dir: %v, want ErrExist", err)
	}
}

func TestDirArchives(t *testing.T) {
	// With Dir set, archives are read back from their files.
	dir := t.TempDir()
	msg := mixed(attach("", "; filename=\"a.tgz\"", makeGzip("a.tar", makeTar(tarEntry{name: "x/evil.exe", data: exe}))))
	res, err := split(t, msg, Options{Dir: dir, Archives: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(res), ","); got != "a.tgz,a.tar,evil.exe" {
		t.Errorf("names = %s", got)
	}
}

func TestMalformedScannedAsFarAsItGoes(t *testing.T) {
	tests := []struct {
		name, msg, want, problem string
	}{
		{"missing close", hdrs + "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; name=a.exe\n\nx\n", "a.exe", "closing boundary"},
		{"no parts", hdrs + "Content-Type: multipart/mixed; boundary=b\n\n" + uuencode("loose.exe", exe), "loose.exe", "no part found"},
		{"no boundary", hdrs + "Content-Type: multipart/mixed\n\n" + uuencode("nob.exe", exe), "nob.exe", "without a boundary"},
		{"bad content type", hdrs + "Content-Type: garbage; name=\"g.exe\"\n\nx\n", "g.exe", "malformed Content-Type"},
		{"two content types", hdrs + "Content-Type: text/plain; name=\"one.exe\"\nContent-Type: application/x; name=\"two.exe\"\n\nx\n", "one.exe,two.exe", "2 Content-Type fields"},
		{"unknown encoding", hdrs + "Content-Type: text/plain; name=\"u.exe\"\nContent-Transfer-Encoding: x-weird\n\nx\n", "u.exe", "unknown Content-Transfer-Encoding"},
		{"bad qp", hdrs + "Content-Type: text/plain; name=\"q.exe\"\nContent-Transfer-Encoding: quoted-printable\n\n=ZZ x\n", "q.exe", "quoted-printable"},
		{"unterminated uuencode", hdrs + "Content-Type: text/plain\n\nbegin 644 open.exe\nM86)C\n", "open.exe", "without an end line"},
		{"no blank line", "Content-Type: text/plain; name=\"h.exe\"\nbody starts here\n", "h.exe", "not ended by a blank line"},
		{"corrupt zip", mixed(attach("", "; filename=\"c.zip\"", []byte("PK\x03\x04 not really a zip"))), "c.zip", "unreadable zip"},
		{"cut tnef", mixed(attach("", "-", makeTNEF(tnefAttachment{title: "T.EXE", longName: "t.exe", data: exe})[:70])), "t.exe", "TNEF stream cut short"},
		{"lying tnef properties", mixed(attach("", "-", lyingTNEF())), "lie.exe", "malformed TNEF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := split(t, tt.msg, Options{Archives: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(names(res), ","); got != tt.want {
				t.Errorf("names = %s, want %s", got, tt.want)
			}
			if !strings.Contains(strings.Join(res.Problems, "\n"), tt.problem) {
				t.Errorf("problems = %q, want one about %q", res.Problems, tt.problem)
			}
		})
	}
}

// lyingTNEF is a TNEF stream whose attachment properties claim a million
// entries.
func lyingTNEF() []byte {
	b := makeTNEF(tnefAttachment{title: "LIE.EXE", longName: "lie.exe", data: exe})
	// The property count is the first field of the last attribute's value:
	// 9 bytes of attribute header, then the value, then a checksum.
	i := bytes.LastIndex(b, []byte{0x02, 0x05, 0x90, 0x06, 0x00})
	b[i+9], b[i+10], b[i+11] = 0x40, 0x42, 0x0f
	return b
}

func TestProblemsCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=b\n\n")
	for i := 0; i < 500; i++ {
		b.WriteString("--b\nContent-Type: text/plain\nno blank line\n")
	}
	res, err := split(t, b.String(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) != maxProblems {
		t.Errorf("%d problems kept, want %d", len(res.Problems), maxProblems)
	}
}

func TestBase64Decoder(t *testing.T) {
	tests := []struct{ in, want string }{
		{"aGVsbG8=", "hello"},
		{"aGVs\r\nbG8=\r\n", "hello"},
		{"aGVsbG8", "hello"},
		{"aGVsbG8=aGVsbG8=", "hellohello"},
		{"a*G!V#s bG8=", "hello"},
		{"aGVsbG8gd29ybGQ", "hello world"},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := io.ReadAll(newB64Reader(strings.NewReader(tt.in)))
		if err != nil || string(got) != tt.want {
			t.Errorf("decode %q = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	// Large input decodes the same as the standard decoder, across reads.
	raw := make([]byte, 300000)
	rand.Read(raw)
	enc := b64(raw)
	got, err := io.ReadAll(io.MultiReader(newB64Reader(iotestHalf(strings.NewReader(enc)))))
	if err != nil || !bytes.Equal(got, raw) {
		t.Errorf("large decode differs (%d bytes, %v)", len(got), err)
	}
}

// iotestHalf returns a reader that returns at most 1000 bytes a read.
func iotestHalf(r io.Reader) io.Reader { return &smallReader{r} }

type smallReader struct{ r io.Reader }

func (s *smallReader) Read(p []byte) (int, error) {
	if len(p) > 1000 {
		p = p[:1000]
	}
	return s.r.Read(p)
}

func TestQuotedPrintableDecoder(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Caf=E9\r\n", "Caf\xe9\r\n"},
		{"soft=\r\nbreak\n", "softbreak\n"},
		{"trailing   \n", "trailing\n"},
		{"a=3Db", "a=b"},
		{"bad=ZZ", "bad=ZZ"},
		{"end=", "end="},
		{strings.Repeat("x", 5000) + "=41=\n" + "y", strings.Repeat("x", 5000) + "Ay"},
	}
	for _, tt := range tests {
		got, err := io.ReadAll(newQPReader(strings.NewReader(tt.in)))
		if err != nil || string(got) != tt.want {
			t.Errorf("decode %q = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestUuDecodeLine(t *testing.T) {
	enc := uuencode("x", []byte("The quick brown fox"))
	line := strings.Split(enc, "\n")[1]
	if got := string(uuDecodeLine(nil, []byte(line))); got != "The quick brown fox" {
		t.Errorf("decoded %q", got)
	}
}

func TestPartReaderBoundaries(t *testing.T) {
	body := "preamble\r\n--b \t\r\nfirst\r\n\r\n--bb\r\n--b-x\r\n--b\nsecond--b\n--b--trailing\r\nepilogue"
	pr := newPartReader(strings.NewReader(body), "b")
	var sections []string
	s, _ := io.ReadAll(pr)
	sections = append(sections, string(s))
	for pr.next() {
		s, _ := io.ReadAll(pr)
		sections = append(sections, string(s))
	}
	want := []string{"preamble", "first\r\n\r\n--bb\r\n--b-x", "second--b"}
	if fmt.Sprintf("%q", sections) != fmt.Sprintf("%q", want) {
		t.Errorf("sections = %q, want %q", sections, want)
	}
	if pr.state != secClosed {
		t.Errorf("state = %d, want closed", pr.state)
	}
	rest, _ := io.ReadAll(pr.br)
	if string(rest) != "epilogue" {
		t.Errorf("epilogue = %q", rest)
	}
}

// peakHeap runs f and returns the largest HeapAlloc seen while it ran,
// sampling runtime.MemStats.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var peak atomic.Uint64
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	peak.Store(ms.HeapAlloc)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(stop)
	wg.Wait()
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > peak.Load() {
		peak.Store(ms.HeapAlloc)
	}
	return peak.Load()
}

// message10M is a 10 MB message with one base64 attachment.
func message10M() []byte {
	data := make([]byte, 7<<20+512<<10)
	rand.Read(data)
	return []byte(mixed(textPart, attach("; name=\"big.bin\"", "; filename=\"big.bin\"", data)))
}

// TestMemory10M checks the peak heap while splitting a 10 MB message,
// the message itself included, stays within 3 times the message size.
func TestMemory10M(t *testing.T) {
	msg := message10M()
	for _, opt := range []Options{{Archives: true}, {Archives: true, Dir: t.TempDir()}} {
		var err error
		peak := peakHeap(func() { _, err = Split(bytes.NewReader(msg), opt) })
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("dir %v: peak heap %d bytes for a %d byte message (%.2fx)", opt.Dir != "", peak, len(msg), float64(peak)/float64(len(msg)))
		if peak > 3*uint64(len(msg)) {
			t.Errorf("peak heap %d > 3 x message size %d", peak, len(msg))
		}
	}
}

// TestHostileInputBounded feeds 10 MB messages built to exhaust a parser
// and checks that the heap stays bounded while Split reads them: what Split
// adds to the heap, the message included, stays under 3 times its size.
func TestHostileInputBounded(t *testing.T) {
	const size = 10 << 20
	fill := func(prefix string, unit func(i int) string, suffix string) func() []byte {
		return func() []byte {
			var b bytes.Buffer
			b.WriteString(prefix)
			for i := 0; b.Len() < size; i++ {
				b.WriteString(unit(i))
			}
			b.WriteString(suffix)
			return b.Bytes()
		}
	}
	rep := func(s string) func(int) string { return func(int) string { return s } }
	tests := []struct {
		name  string
		msg   func() []byte
		limit string // "" when no limit is expected
	}{
		{"nested multiparts", fill("", func(i int) string {
			return fmt.Sprintf("Content-Type: multipart/mixed; boundary=a%d\n\n--a%d\n", i, i)
		}, ""), LimitDepth},
		{"nested messages", fill("", rep("Content-Type: message/rfc822\n\n"), ""), LimitDepth},
		{"endless boundaries", fill("Content-Type: multipart/mixed; boundary=a\n\n", rep("--a\n"), ""), LimitParts},
		{"endless begin lines", fill("Content-Type: text/plain\n\n", rep("begin 644 x.exe\nend\n"), ""), LimitParts},
		{"huge header line", fill("Subject: ", rep("x"), "\n\nbody\n"), LimitHeaderBytes},
		{"huge part header", fill("Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: text/plain; ", rep("a=b; "), "\n\n"), LimitHeaderBytes},
		{"one long body line", fill("Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: application/zip\n\n", rep("PK\x03\x04"), ""), ""},
		{"long base64 line", fill("Content-Type: application/octet-stream; name=x.zip\nContent-Transfer-Encoding: base64\n\n", rep("UEsDBAAAAAAAAAAAAAAA"), ""), ""},
		{"near boundaries", fill("Content-Type: multipart/mixed; boundary=aaaaaaaa\n\n--aaaaaaaa\n\n", rep("--aaaaaaaa-\n--aaaaaaa\n--aaaaaaaa x\n"), ""), ""},
		{"boundary padding", fill("Content-Type: multipart/mixed; boundary=a\n\n--a", rep(" "), "\nx\n"), ""},
		{"many parameters", func() []byte {
			var b bytes.Buffer
			b.WriteString("Content-Type: text/plain")
			for i := 0; b.Len() < 1000<<10; i++ {
				fmt.Fprintf(&b, "; filename*%d*=%%41", i)
			}
			b.WriteString("\n\n")
			for b.Len() < size {
				b.WriteString("a body line of plain text\n")
			}
			return b.Bytes()
		}, ""},
		{"encoded word flood", func() []byte {
			var b bytes.Buffer
			b.WriteString("Content-Type: application/octet-stream; name=\"")
			for b.Len() < 1000<<10 {
				b.WriteString("=?windows-1252?Q?=80uro?= ")
			}
			b.WriteString("\"\n\n")
			for b.Len() < size {
				b.WriteString("a body line of plain text\n")
			}
			return b.Bytes()
		}, ""},
		{"many quoted parameters", func() []byte {
			var b bytes.Buffer
			b.WriteString("Content-Disposition: attachment")
			for i := 0; b.Len() < 1000<<10; i++ {
				fmt.Fprintf(&b, "; p%d=\"x\\\"y\"", i)
			}
			b.WriteString("\n\n")
			for b.Len() < size {
				b.WriteString("a body line of plain text\n")
			}
			return b.Bytes()
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			base := ms.HeapAlloc
			msg := bytes.Clone(tt.msg())
			var err error
			start := time.Now()
			peak := peakHeap(func() {
				_, err = Split(bytes.NewReader(msg), Options{Archives: true})
			})
			used := peak - min(peak, base)
			t.Logf("%d bytes: %v, heap used %d bytes (%.2fx), err %v", len(msg), time.Since(start), used, float64(used)/float64(len(msg)), err)
			if tt.limit != "" {
				wantLimit(t, err, tt.limit)
			} else if err != nil {
				var le *LimitError
				if !errors.As(err, &le) {
					t.Fatalf("unexpected error %v", err)
				}
			}
			if used > 3*uint64(len(msg)) {
				t.Errorf("heap used %d > 3 x input %d", used, len(msg))
			}
		})
	}
}

// TestFilesClosedOnLimit checks that a limit hit in the middle of a part,
// or of a uuencoded file inside one, leaves no file open.
func TestFilesClosedOnLimit(t *testing.T) {
	openFiles := func() int {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatalf("counting open files: %v", err)
		}
		return len(entries)
	}
	big := bytes.Repeat([]byte("x"), 400<<10)
	msgs := []string{
		mixed(attach("", "; filename=\"big.bin\"", big)),
		mixed("Content-Type: text/plain\n\n" + uuencode("big.exe", big)),
	}
	before := openFiles()
	for _, msg := range msgs {
		_, err := split(t, msg, Options{Dir: t.TempDir(), Limits: Limits{MaxDecodedBytes: 300 << 10}})
		wantLimit(t, err, LimitDecodedBytes)
	}
	if after := openFiles(); after != before {
		t.Errorf("%d files open before, %d after", before, after)
	}
}
