package mime

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// The corpus under testdata/mime is written by this generator and then
// committed, so that each message can be read and reviewed as a file. Run
//
//	go test ./mime -run TestGenerateCorpus -gencorpus
//
// after changing it, then go test ./mime -run TestCorpus -update for the
// golden file.
var genCorpus = flag.Bool("gencorpus", false, "rewrite the messages in testdata/mime")

const corpusDir = "../testdata/mime"

// fixedTime keeps generated archives byte for byte reproducible.
var fixedTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func TestGenerateCorpus(t *testing.T) {
	msgs := corpusMessages()
	if len(msgs) < 40 {
		t.Fatalf("corpus has %d messages, want at least 40", len(msgs))
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		if seen[m.name] {
			t.Fatalf("duplicate corpus name %s", m.name)
		}
		seen[m.name] = true
		if !*genCorpus {
			continue
		}
		if err := os.WriteFile(filepath.Join(corpusDir, m.name), []byte(m.body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !*genCorpus {
		return
	}
	// Remove messages the generator no longer knows.
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
	}
}

type corpusMessage struct {
	name string
	body string
}

// b64 wraps base64 at 76 characters, as mail does.
func b64(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76])
		out.WriteString("\n")
		s = s[76:]
	}
	out.WriteString(s)
	out.WriteString("\n")
	return out.String()
}

// uuencode encodes data as a uuencoded block (POSIX uuencode).
func uuencode(name string, data []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "begin 644 %s\n", name)
	enc := func(c byte) byte {
		if c == 0 {
			return '`'
		}
		return c + ' '
	}
	for len(data) > 0 {
		n := min(len(data), 45)
		chunk := data[:n]
		data = data[n:]
		b.WriteByte(enc(byte(n)))
		for i := 0; i < n; i += 3 {
			var q [3]byte
			copy(q[:], chunk[i:min(i+3, n)])
			b.WriteByte(enc(q[0] >> 2))
			b.WriteByte(enc((q[0]<<4 | q[1]>>4) & 63))
			b.WriteByte(enc((q[1]<<2 | q[2]>>6) & 63))
			b.WriteByte(enc(q[2] & 63))
		}
		b.WriteByte('\n')
	}
	b.WriteString("`\nend\n")
	return b.String()
}

type zipEntry struct {
	name      string
	data      []byte
	encrypted bool
}

func makeZip(entries ...zipEntry) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		fh := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: fixedTime}
		if e.encrypted {
			// The content is stored as it is; only the flag matters, since an
			// encrypted member is never read.
			fh.Method = zip.Store
			fh.Flags |= 0x1
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			panic(err)
		}
		if _, err := w.Write(e.data); err != nil {
			panic(err)
		}
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

type tarEntry struct {
	name string
	data []byte
}

func makeTar(entries ...tarEntry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: fixedTime, Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(hdr); err != nil {
			panic(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			panic(err)
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func makeGzip(name string, data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Name = name
	zw.ModTime = fixedTime
	if _, err := zw.Write(data); err != nil {
		panic(err)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// tnefAttachment is one attachment inside a TNEF stream.
type tnefAttachment struct {
	title    string // attAttachTitle, 8-bit
	longName string // PR_ATTACH_LONG_FILENAME, written as UTF-16
	data     []byte
}

// makeTNEF builds a TNEF stream ([MS-OXTNEF]) holding the attachments.
func makeTNEF(atts ...tnefAttachment) []byte {
	var b bytes.Buffer
	b.Write([]byte{0x78, 0x9f, 0x3e, 0x22, 0x01, 0x00})
	attr := func(level byte, id uint32, data []byte) {
		b.WriteByte(level)
		binary.Write(&b, binary.LittleEndian, id)
		binary.Write(&b, binary.LittleEndian, uint32(len(data)))
		b.Write(data)
		var sum uint16
		for _, c := range data {
			sum += uint16(c)
		}
		binary.Write(&b, binary.LittleEndian, sum)
	}
	attr(1, 0x00089006, []byte{0, 0, 1, 0}) // attTnefVersion
	for _, a := range atts {
		attr(2, 0x00069002, make([]byte, 14))
		attr(2, 0x00018010, append([]byte(a.title), 0))
		attr(2, 0x0006800f, a.data)
		var props bytes.Buffer
		name := utf16.Encode([]rune(a.longName + "\x00"))
		binary.Write(&props, binary.LittleEndian, uint32(2))
		binary.Write(&props, binary.LittleEndian, uint32(0x0e200003)) // PR_ATTACH_SIZE, i4
		binary.Write(&props, binary.LittleEndian, uint32(len(a.data)))
		binary.Write(&props, binary.LittleEndian, uint32(0x3707<<16|0x001f))
		binary.Write(&props, binary.LittleEndian, uint32(1))
		binary.Write(&props, binary.LittleEndian, uint32(2*len(name)))
		binary.Write(&props, binary.LittleEndian, name)
		for props.Len()%4 != 0 {
			props.WriteByte(0)
		}
		attr(2, 0x00069005, props.Bytes())
	}
	return b.Bytes()
}

// exe is a stand-in for a Windows executable: the MZ header and little else.
var exe = append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"), bytes.Repeat([]byte("This program cannot be run in DOS mode.\r\n"), 3)...)

// pdf is a stand-in for a PDF document.
var pdf = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")

const hdrs = "From: Alice <alice@example.org>\nTo: bob@example.com\nSubject: test\nDate: Tue, 2 Jan 2024 03:04:05 +0000\nMessage-ID: <corpus@example.org>\nMIME-Version: 1.0\n"

// mixed builds a multipart/mixed message with boundary "b1" from raw parts
// (header lines, blank line, body).
func mixed(parts ...string) string {
	var b strings.Builder
	b.WriteString(hdrs)
	b.WriteString("Content-Type: multipart/mixed; boundary=\"b1\"\n\nThis is a multi-part message in MIME format.\n")
	for _, p := range parts {
		b.WriteString("--b1\n")
		b.WriteString(p)
		if !strings.HasSuffix(p, "\n") {
			b.WriteString("\n")
		}
	}
	b.WriteString("--b1--\n")
	return b.String()
}

const textPart = "Content-Type: text/plain; charset=us-ascii\n\nPlease see the attachment.\n"

// attach is an attachment part with the given header parameters.
func attach(ctParams, cdParams string, data []byte) string {
	var b strings.Builder
	b.WriteString("Content-Type: application/octet-stream")
	b.WriteString(ctParams)
	b.WriteString("\n")
	if cdParams != "-" {
		b.WriteString("Content-Disposition: attachment")
		b.WriteString(cdParams)
		b.WriteString("\n")
	}
	b.WriteString("Content-Transfer-Encoding: base64\n\n")
	b.WriteString(b64(data))
	return b.String()
}

// rfc822 wraps a message as a message/rfc822 part.
func rfc822(name, msg string) string {
	d := ""
	if name != "" {
		d = "Content-Disposition: attachment; filename=\"" + name + "\"\n"
	}
	return "Content-Type: message/rfc822\n" + d + "\n" + msg
}

// innerMixed is like mixed with a different boundary, for nested messages.
func innerMixed(boundary string, parts ...string) string {
	var b strings.Builder
	b.WriteString("From: carol@example.net\nSubject: inner\nMIME-Version: 1.0\n")
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=%q\n\n", boundary)
	for _, p := range parts {
		fmt.Fprintf(&b, "--%s\n%s", boundary, p)
		if !strings.HasSuffix(p, "\n") {
			b.WriteString("\n")
		}
	}
	fmt.Fprintf(&b, "--%s--\n", boundary)
	return b.String()
}

func corpusMessages() []corpusMessage {
	zipExe := makeZip(zipEntry{name: "setup.exe", data: exe})
	zipPDFs := makeZip(zipEntry{name: "papers/report.pdf", data: pdf}, zipEntry{name: "papers/annex.pdf", data: pdf})
	innerZip := makeZip(zipEntry{name: "payload.scr", data: exe})
	zipInZip := makeZip(zipEntry{name: "readme.txt", data: []byte("open the inner archive\n")}, zipEntry{name: "inner.zip", data: innerZip})
	tarball := makeTar(tarEntry{name: "tools/run.sh", data: []byte("#!/bin/sh\necho hi\n")}, tarEntry{name: "tools/evil.exe", data: exe})
	tgz := makeGzip("", makeTar(tarEntry{name: "bin/dropper.exe", data: exe}, tarEntry{name: "doc/readme.txt", data: []byte("read me\n")}))
	gz := makeGzip("invoice.exe", exe)
	encZip := makeZip(zipEntry{name: "secret.exe", data: exe, encrypted: true}, zipEntry{name: "password.txt", data: []byte("the password is 1234\n")})
	bomb := makeZip(zipEntry{name: "zeros.txt", data: make([]byte, 10<<20)})
	deep := makeZip(zipEntry{name: "core.exe", data: exe})
	for i := 6; i >= 1; i-- {
		deep = makeZip(zipEntry{name: fmt.Sprintf("level%d.zip", i), data: deep})
	}
	sfx := append(append([]byte(nil), exe...), makeZip(zipEntry{name: "hidden.vbs", data: []byte("MsgBox \"hi\"\n")})...)

	var msgs []corpusMessage
	add := func(name, body string) { msgs = append(msgs, corpusMessage{name, body}) }

	add("01-plain-attachment.eml", mixed(textPart,
		"Content-Type: application/pdf; name=\"report.pdf\"\nContent-Disposition: attachment; filename=\"report.pdf\"\nContent-Transfer-Encoding: base64\n\n"+b64(pdf)))
	add("02-name-only-content-type.eml", mixed(textPart, attach("; name=\"invoice.exe\"", "-", exe)))
	add("03-filename-only-disposition.eml", mixed(textPart, attach("", "; filename=\"update.exe\"", exe)))
	add("04-names-differ.eml", mixed(textPart, attach("; name=\"report.pdf\"", "; filename=\"report.exe\"", exe)))
	add("05-rfc2047-b-utf8.eml", mixed(textPart, attach("", "; filename=\"=?UTF-8?B?"+base64.StdEncoding.EncodeToString([]byte("résumé.exe"))+"?=\"", exe)))
	add("06-rfc2047-q-latin1.eml", mixed(textPart, attach("; name=\"=?ISO-8859-1?Q?r=E9sum=E9.scr?=\"", "-", exe)))
	add("07-rfc2047-q-utf8.eml", mixed(textPart, attach("", "; filename=\"=?utf-8?q?Rechnung_M=C3=A4rz.exe?=\"", exe)))
	add("08-rfc2047-b-latin1-split.eml", mixed(textPart, attach("; name=\"=?iso-8859-1?B?"+base64.StdEncoding.EncodeToString([]byte("\xe9t\xe9_"))+"?= =?iso-8859-1?B?"+base64.StdEncoding.EncodeToString([]byte("photo.pif"))+"?=\"", "-", exe)))
	add("09-rfc2231-charset-language.eml", mixed(textPart, attach("", "; filename*=iso-8859-1'fr'%E9t%E9.exe", exe)))
	add("10-rfc2231-utf8.eml", mixed(textPart, attach("", "; filename*=UTF-8''%E2%82%AC%20price%20list.scr", exe)))
	add("11-rfc2231-continuations.eml", mixed(textPart, attach("", ";\n filename*0=\"a_very_long_name_that_\";\n filename*1=\"goes_on_and_on\";\n filename*2=\".exe\"", exe)))
	add("12-rfc2231-continuations-encoded.eml", mixed(textPart, attach("", ";\n filename*0*=UTF-8''%C3%A9v;\n filename*1*=%C3%AFl;\n filename*2=\".exe\"", exe)))
	add("13-rfc2231-out-of-order.eml", mixed(textPart, attach("", ";\n filename*2=\".exe\";\n filename*0=\"ev\";\n filename*1=\"il\"", exe)))
	add("14-rfc2231-gap.eml", mixed(textPart, attach("", ";\n filename*0=\"harmless\";\n filename*2=\".exe\"", exe)))
	add("15-path-windows.eml", mixed(textPart, attach("; name=\"C:\\temp\\evil.exe\"", "; filename=\"C:\\temp\\evil.exe\"", exe)))
	add("16-path-unix.eml", mixed(textPart, attach("", "; filename=\"../../etc/evil.exe\"", exe)))
	add("17-trailing-dots-spaces.eml", mixed(textPart,
		attach("", "; filename=\"evil.exe. . .\"", exe),
		attach("", "; filename=\"evil2.exe   \"", exe)))
	add("18-control-chars.eml", mixed(textPart,
		attach("", "; filename*=UTF-8''evil%00.txt%00.exe", exe),
		attach("", "; filename=\"ev\x01il\x7f.bat\"", exe)))
	add("19-upper-case.eml", mixed(textPart, attach("; name=\"EVIL.EXE\"", "; filename=\"EVIL.EXE\"", exe)))
	add("20-rtl-override.eml", mixed(textPart,
		attach("", "; filename=\"=?UTF-8?B?"+base64.StdEncoding.EncodeToString([]byte("invoice\u202Efdp.exe"))+"?=\"", exe),
		attach("", "; filename*=UTF-8''photo%E2%80%AEgpj.scr", exe)))
	add("21-nested-rfc822.eml", mixed(textPart,
		rfc822("forwarded.eml", innerMixed("b2", textPart, attach("", "; filename=\"inner.exe\"", exe)))))
	add("22-nested-rfc822-3-deep.eml", mixed(textPart,
		rfc822("", innerMixed("b2", textPart,
			rfc822("", innerMixed("b3", textPart,
				rfc822("", innerMixed("b4", textPart, attach("", "; filename=\"deepest.exe\"", exe)))))))))
	add("23-multipart-in-multipart.eml", mixed(
		"Content-Type: multipart/alternative; boundary=\"alt\"\n\n--alt\nContent-Type: text/plain\n\nplain\n--alt\nContent-Type: multipart/related; boundary=\"rel\"\n\n--rel\nContent-Type: text/html\n\n<img src=\"cid:logo\">\n--rel\nContent-Type: image/png; name=\"logo.png\"\nContent-ID: <logo>\nContent-Disposition: inline\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--rel--\n--alt--\n",
		attach("", "; filename=\"tool.exe\"", exe)))
	add("24-uuencode-text.eml", hdrs+"Content-Type: text/plain\n\nHi, here is the file.\n\n"+uuencode("payload.exe", exe)+"\nBye.\n")
	add("25-uuencode-in-base64-text.eml", mixed(
		"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"+b64([]byte("See below.\r\n"+strings.ReplaceAll(uuencode("hidden.com", exe), "\n", "\r\n")))))
	add("26-zip-exe.eml", mixed(textPart, attach("; name=\"setup.zip\"", "; filename=\"setup.zip\"", zipExe)))
	add("27-zip-in-zip.eml", mixed(textPart, attach("", "; filename=\"outer.zip\"", zipInZip)))
	add("28-tar.eml", mixed(textPart, attach("", "; filename=\"tools.tar\"", tarball)))
	add("29-tar-gz.eml", mixed(textPart, attach("", "; filename=\"tools.tgz\"", tgz)))
	add("30-gzip-stored-name.eml", mixed(textPart, attach("", "; filename=\"invoice.gz\"", gz)))
	add("31-zip-encrypted.eml", mixed(textPart, attach("", "; filename=\"locked.zip\"", encZip)))
	add("32-zip-bomb.eml", mixed(textPart, attach("", "; filename=\"data.zip\"", bomb)))
	var many strings.Builder
	many.WriteString(hdrs + "Content-Type: multipart/mixed; boundary=m\n\n")
	for i := 0; i < 1005; i++ {
		many.WriteString("--m\n\nx\n")
	}
	many.WriteString("--m\nContent-Type: application/octet-stream; name=\"late.exe\"\n\nx\n--m--\n")
	add("33-too-many-parts.eml", many.String())
	var nest strings.Builder
	nest.WriteString(hdrs)
	for i := 0; i < 25; i++ {
		fmt.Fprintf(&nest, "Content-Type: multipart/mixed; boundary=\"n%d\"\n\n--n%d\n", i, i)
	}
	nest.WriteString("Content-Type: application/octet-stream; name=\"bottom.exe\"\n\nx\n")
	for i := 24; i >= 0; i-- {
		fmt.Fprintf(&nest, "--n%d--\n", i)
	}
	add("34-too-deep.eml", nest.String())
	add("35-broken-missing-close-boundary.eml", hdrs+"Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\n"+textPart+"--b1\n"+attach("", "; filename=\"unclosed.exe\"", exe))
	add("36-broken-bad-base64.eml", mixed(textPart,
		"Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"bad.exe\"\nContent-Transfer-Encoding: base64\n\nTVqQ!!AAMAAAAE\n####AAAA//8=garbage*&^\n"+b64(exe)))
	add("37-broken-no-blank-line.eml", hdrs+"Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain\nthis body follows the header without a blank line\n"+uuencode("noblank.exe", exe)+"--b1\nContent-Type: application/octet-stream; name=\"after.exe\"\nContent-Transfer-Encoding: base64\n"+b64(exe)+"--b1--\n")
	add("38-legit-names.eml", mixed(textPart,
		attach("", "; filename=\"exercise.txt\"", []byte("push-ups\n")),
		attach("", "; filename=\"notes.exe.txt\"", []byte("notes\n")),
		"Content-Type: application/pdf; name=\"report.pdf\"\nContent-Disposition: attachment; filename=\"report.pdf\"\nContent-Transfer-Encoding: base64\n\n"+b64(pdf)))
	add("39-zip-of-pdfs.eml", mixed(textPart, attach("; name=\"papers.zip\"", "; filename=\"papers.zip\"", zipPDFs)))
	add("40-duplicate-parameters.eml", mixed(textPart, attach("", "; filename=\"a.txt\"; filename=\"b.exe\"", exe)))
	add("41-unquoted-with-space.eml", mixed(textPart, attach("", "; filename=my evil.exe", exe)))
	add("42-digest.eml", hdrs+"Content-Type: multipart/digest; boundary=\"d\"\n\n--d\n\n"+innerMixed("x1", textPart, attach("", "; filename=\"digest1.exe\"", exe))+"--d\n\nFrom: dave@example.net\nSubject: plain\nContent-Type: application/octet-stream; name=\"digest2.scr\"\nContent-Transfer-Encoding: base64\n\n"+b64(exe)+"--d--\n")
	add("43-x-uuencode-transfer-encoding.eml", mixed(textPart,
		"Content-Type: application/octet-stream; name=\"archive.dat\"\nContent-Transfer-Encoding: x-uuencode\n\n"+uuencode("real-name.exe", exe)))
	add("44-rfc822-base64.eml", mixed(textPart,
		"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"+b64([]byte(innerMixed("e1", textPart, attach("", "; filename=\"encoded-inner.exe\"", exe))))))
	add("45-single-part-top-level.eml", "From sender@example.org Tue Jan  2 03:04:05 2024\n"+hdrs+"Content-Type: application/x-msdownload; name=\"alone.exe\"\nContent-Transfer-Encoding: base64\n\n"+b64(exe))
	add("46-zip-with-prefix.eml", mixed(textPart, attach("", "; filename=\"selfextract.zip\"", sfx)))
	add("47-archive-too-deep.eml", mixed(textPart, attach("", "; filename=\"matryoshka.zip\"", deep)))
	add("48-format-and-space-chars.eml", mixed(textPart,
		attach("", "; filename*=UTF-8''evil.exe%C2%A0", exe),
		attach("", "; filename*=UTF-8''ev%E2%80%8Bil.js", exe),
		attach("", "; filename*=UTF-8''%EF%BB%BFbom.vbs", exe)))
	add("49-ntfs-stream.eml", mixed(textPart, attach("", "; filename=\"evil.exe::$DATA\"", exe)))
	add("50-boundary-prefix.eml", hdrs+"Content-Type: multipart/mixed; boundary=\"abc\"\n\n--abc\nContent-Type: multipart/mixed; boundary=\"abcdef\"\n\n--abcdef\n"+textPart+"--abcdef\n"+attach("", "; filename=\"prefix.exe\"", exe)+"--abcdef--\n--abc\n"+attach("", "; filename=\"second.exe\"", exe)+"--abc--\n")
	add("51-crlf-line-ends.eml", strings.ReplaceAll(mixed(textPart, attach("; name=\"crlf.exe\"", "; filename=\"crlf.exe\"", exe)), "\n", "\r\n"))
	add("52-backslash-quoted.eml", mixed(textPart, attach("", "; filename=\"evil\\\".exe\"", exe)))
	add("53-drive-relative.eml", mixed(textPart, attach("", "; filename=\"d:evil.exe\"", exe)))
	add("54-uuencode-in-preamble.eml", hdrs+"Content-Type: multipart/mixed; boundary=\"b1\"\n\n"+uuencode("preamble.exe", exe)+"--b1\n"+textPart+"--b1--\n")
	add("55-name-on-multipart.eml", hdrs+"Content-Type: multipart/mixed; boundary=\"b1\"; name=\"container.exe\"\n\n--b1\n"+textPart+"--b1--\n")
	add("56-qp-filename-and-body.eml", mixed(
		"Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nCaf=E9 menu, soft=\nbreak.\n"+strings.ReplaceAll(uuencode("qp.exe", exe), "=", "=3D"),
		attach("", "; filename=\"=?windows-1252?Q?=80uro.exe?=\"", exe)))
	add("57-tnef-winmail.eml", mixed(textPart,
		"Content-Type: application/ms-tnef; name=\"winmail.dat\"\nContent-Disposition: attachment; filename=\"winmail.dat\"\nContent-Transfer-Encoding: base64\n\n"+b64(makeTNEF(
			tnefAttachment{title: "EVIL~1.EXE", longName: "evil document.exe", data: exe},
			tnefAttachment{title: "papers.zip", longName: "papers.zip", data: zipExe},
		))))
	return msgs
}
