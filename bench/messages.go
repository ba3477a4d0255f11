package bench

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// IDHeader names the header field that carries a message's ID; the ID is
// also the first line of its body, so a delivery can be matched to what was
// sent even when a header block is rewritten.
const IDHeader = "X-Bench-Id"

// Message describes a message to build. Its text is ordinary English words,
// so that spamd scores it as ham.
type Message struct {
	ID      string
	Subject string
	Date    time.Time // zero: a fixed date
	// Size is the approximate size of the whole message. The text body is
	// filled with words up to it; attachments count with their encoded
	// size. A message is never shorter than its headers and attachments.
	Size int
	// Text is put into the body after the ID line (GTUBE, say).
	Text   string
	Attach []Attachment
	// Seed makes the filler text; equal seeds give equal text.
	Seed uint64
}

// Attachment is one attached file, sent base64-encoded.
type Attachment struct {
	Name        string // the filename parameter; "" for none
	ContentType string // default application/octet-stream
	// Disposition is the raw Content-Disposition value; empty means
	// `attachment; filename="Name"`.
	Disposition string
	Data        []byte
}

// boundary is the multipart boundary of a message with this ID.
func boundary(id string) string { return "=_bench_" + id }

// Bytes returns the message with LF line ends.
func (m Message) Bytes() []byte {
	var b bytes.Buffer
	date := m.Date
	if date.IsZero() {
		date = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	}
	subject := m.Subject
	if subject == "" {
		subject = "Notes " + m.ID
	}
	fmt.Fprintf(&b, "From: Bench Sender <sender@example.com>\n"+
		"To: Bench Recipient <rcpt@example.org>\n"+
		"Subject: %s\n"+
		"Date: %s\n"+
		"Message-ID: <%s@bench.example>\n"+
		"MIME-Version: 1.0\n"+
		"%s: %s\n", subject, date.Format(time.RFC1123Z), m.ID, IDHeader, m.ID)
	var parts []string
	for _, a := range m.Attach {
		parts = append(parts, a.part())
	}
	attached := 0
	for _, p := range parts {
		attached += len(p)
	}
	if len(parts) > 0 {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"%s\"\n\n", boundary(m.ID))
		b.WriteString("This is a multi-part message in MIME format.\n\n")
		fmt.Fprintf(&b, "--%s\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n", boundary(m.ID))
	} else {
		b.WriteString("Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n")
	}
	fmt.Fprintf(&b, "%s\n\n", m.ID)
	if m.Text != "" {
		b.WriteString(m.Text)
		b.WriteString("\n\n")
	}
	closing := 0
	if len(parts) > 0 {
		closing = len(boundary(m.ID)) + 6
	}
	fill := m.Size - b.Len() - attached - closing
	b.Write(Words(m.Seed, fill))
	for _, p := range parts {
		fmt.Fprintf(&b, "\n--%s\n", boundary(m.ID))
		b.WriteString(p)
	}
	if len(parts) > 0 {
		fmt.Fprintf(&b, "\n--%s--\n", boundary(m.ID))
	}
	return b.Bytes()
}

// part is the attachment as a MIME part without its boundary line.
func (a Attachment) part() string {
	ct := a.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	disp := a.Disposition
	if disp == "" && a.Name != "" {
		disp = fmt.Sprintf("attachment; filename=\"%s\"", a.Name)
	}
	var b strings.Builder
	if a.Name != "" && a.Disposition == "" {
		fmt.Fprintf(&b, "Content-Type: %s; name=\"%s\"\n", ct, a.Name)
	} else {
		fmt.Fprintf(&b, "Content-Type: %s\n", ct)
	}
	b.WriteString("Content-Transfer-Encoding: base64\n")
	if disp != "" {
		fmt.Fprintf(&b, "Content-Disposition: %s\n", disp)
	}
	b.WriteString("\n")
	b.WriteString(Base64Lines(a.Data))
	return b.String()
}

// Base64Lines encodes data in base64 lines of 76 characters (RFC 2045
// section 6.8), each ended by LF.
func Base64Lines(data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	b.Grow(len(enc) + len(enc)/76 + 1)
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteByte('\n')
		enc = enc[76:]
	}
	if enc != "" {
		b.WriteString(enc)
		b.WriteByte('\n')
	}
	return b.String()
}

// EncodedSize is the size of data once Base64Lines has encoded it.
func EncodedSize(n int) int {
	enc := (n + 2) / 3 * 4
	return enc + (enc+75)/76
}

// vocabulary is the filler text's words: plain business English.
var vocabulary = strings.Fields(`the of and to in is for on that with as are this be at by
from have it an or was will can we our you your all about project meeting report team
week month year plan review update schedule office budget question answer client order
please thanks regards note draft version figure table section page document summary
attached agenda minutes lunch Friday Monday morning afternoon room call share idea list
point issue change design test result number total cost time date place travel train
hotel visit garden weather river city house book library paper letter card phone group
member staff manager support service customer product sample quality supply delivery
shipping invoice payment account record file folder copy print printer desk chair
kitchen coffee tea water bread cheese apple dinner party birthday holiday summer winter
spring autumn school class lesson teacher student course exam grade science history
music piano guitar concert ticket theatre film picture camera photo walk bike car road
bridge station airport flight map north south east west left right early late soon`)

// Words returns about n bytes of lines of words, each line at most 72
// characters and ended by LF, the same for the same seed. n <= 0 gives
// nothing.
func Words(seed uint64, n int) []byte {
	if n <= 0 {
		return nil
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, 0, n+80)
	line := 0
	for len(b) < n {
		w := vocabulary[r.IntN(len(vocabulary))]
		if line > 0 && line+1+len(w) > 72 {
			b = append(b, '\n')
			line = 0
		}
		if line > 0 {
			b = append(b, ' ')
			line++
		}
		b = append(b, w...)
		line += len(w)
	}
	if line > 0 {
		b = append(b, '\n')
	}
	return b
}

// Random returns n bytes that do not compress, the same for the same seed.
func Random(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0xda7a))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// PDF returns a document of about n bytes with the structure of a PDF file
// (header, objects, a compressed-looking stream, cross-reference table,
// trailer), enough for clamd to treat it as one.
func PDF(seed uint64, n int) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	var offsets []int
	obj := func(body string) {
		offsets = append(offsets, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offsets), body)
	}
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>")
	data := Random(seed, max(n-600, 16))
	offsets = append(offsets, b.Len())
	fmt.Fprintf(&b, "%d 0 obj\n<< /Length %d >>\nstream\n", len(offsets), len(data))
	b.Write(data)
	b.WriteString("\nendstream\nendobj\n")
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offsets)+1)
	for _, o := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	return b.Bytes()
}

// Zip returns a zip archive holding one file.
func Zip(name string, data []byte) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.Create(name)
	if err == nil {
		_, err = w.Write(data)
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		panic("bench: zip in memory: " + err.Error()) // cannot happen with a bytes.Buffer
	}
	return b.Bytes()
}
