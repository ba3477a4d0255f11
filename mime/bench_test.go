package mime

import (
	"bytes"
	"os"
	"runtime"
	"strings"
	"testing"
)

// message10K is a typical 10 KB message: text and HTML alternatives and a
// small PDF attachment.
func message10K() []byte {
	text := strings.Repeat("Dear customer, please find the quarterly report attached. Regards.\n", 40)
	html := "<html><body><p>" + strings.Repeat("Dear customer, please find the report attached.<br>\n", 40) + "</p></body></html>\n"
	doc := bytes.Repeat(pdf, 40)
	msg := hdrs + "Content-Type: multipart/mixed; boundary=\"outer\"\n\n--outer\n" +
		"Content-Type: multipart/alternative; boundary=\"alt\"\n\n--alt\n" +
		"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" + text +
		"--alt\nContent-Type: text/html; charset=utf-8\n\n" + html + "--alt--\n" +
		"--outer\nContent-Type: application/pdf; name=\"report.pdf\"\nContent-Disposition: attachment; filename=\"report.pdf\"\nContent-Transfer-Encoding: base64\n\n" + b64(doc) +
		"--outer--\n"
	return []byte(msg)
}

// benchmarkSplit reports time, allocations and, from one extra run, the
// peak heap as a multiple of the message size: what Split adds to the heap
// at its peak, plus the message itself. options is called before each run.
func benchmarkSplit(b *testing.B, msg []byte, options func() Options) {
	var err error
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	peak := peakHeap(func() { _, err = Split(bytes.NewReader(msg), options()) })
	peak = peak - min(peak, ms.HeapAlloc) + uint64(len(msg))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Split(bytes.NewReader(msg), options()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(peak)/float64(len(msg)), "peak-heap/msg")
}

func BenchmarkSplit10K(b *testing.B) {
	msg := message10K()
	if n := len(msg); n < 9<<10 || n > 11<<10 {
		b.Fatalf("message is %d bytes", n)
	}
	benchmarkSplit(b, msg, func() Options { return Options{Archives: true} })
}

func BenchmarkSplit10M(b *testing.B) {
	benchmarkSplit(b, message10M(), func() Options { return Options{Archives: true} })
}

// BenchmarkSplit10MDir also writes the parts, as the scanner does before
// handing them to a virus scanner.
func BenchmarkSplit10MDir(b *testing.B) {
	root := b.TempDir()
	benchmarkSplit(b, message10M(), func() Options {
		dir, err := os.MkdirTemp(root, "")
		if err != nil {
			b.Fatal(err)
		}
		return Options{Archives: true, Dir: dir}
	})
}
