package bench

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosimscan/simscan/internal/testenv"
)

// Limits simscan runs under in the soak test (through limitrun): its data
// segment and its open files. RLIMIT_DATA and not RLIMIT_AS: a Go program
// reserves hundreds of megabytes of address space it never touches, so an
// address-space limit would have to be huge to let it start at all, while
// RLIMIT_DATA counts the heap it actually maps (a Go program needs a bit
// over 64 MB of it just to start).
const (
	soakDataLimit = "256m"
	soakNoFile    = 32
	// soakMaxRSS bounds the peak resident set of any one simscan run,
	// the qmail-queue it execs included.
	soakMaxRSS = 64 << 10 // KiB
)

// soakClients is how many SMTP clients send at once.
const soakClients = 16

// soakCount is the number of messages: SIMSCAN_SOAK, else 300 (60 with
// -short), so that every "go test ./..." runs a short soak.
func soakCount(t *testing.T) int {
	if s := os.Getenv("SIMSCAN_SOAK"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("SIMSCAN_SOAK=%q is not a positive number", s)
		}
		return n
	}
	if testing.Short() {
		return 60
	}
	return 300
}

// soakMsg is one message of the soak and what must become of it.
type soakMsg struct {
	id     string
	kind   string // clean, virus, spam, banned, malformed-...
	data   []byte
	accept bool   // must be queued; otherwise refused with exit 31
	state  string // simscan's log state for it

	code int // the reply to the end of DATA
	text string
	err  error
}

// soakKinds is the mix, by weight.
var soakKinds = []struct {
	kind   string
	weight int
}{
	{"clean", 40},
	{"virus", 15},
	{"spam", 15},
	{"banned", 15},
	{"malformed", 15},
}

// TestSoak sends a mix of clean, virus, spam, banned-attachment and
// malformed messages over SMTP from soakClients parallel clients through
// qpsmtpd to simscan, with the real clamd and spamd, to the recording
// qmail-queue, and checks that every accepted message arrived exactly once
// with its header and body intact, that every refused one was refused with
// simscan's permanent failure, that nothing was left in the work
// directory, and that no simscan run went past its limits.
//
// A delivered message is compared with the one sent after taking out what
// the path adds on purpose: the Received and Authentication-Results fields
// qpsmtpd puts first (testenv.QpsmtpdHeaders) and the X-Spam- fields
// spamd's PROCESS puts in front of those. Everything else, every other
// header field and the whole body, must be byte for byte what was sent.
func TestSoak(t *testing.T) {
	n := soakCount(t)
	root := testenv.ModuleRoot(t)
	dir := t.TempDir()
	simscan := goBuild(t, root, filepath.Join(dir, "simscan"), "./cmd/simscan", "-ldflags", "-X main.version=test")
	limitrun := goBuild(t, root, filepath.Join(dir, "limitrun"), "./bench/cmd/limitrun")
	recorder := testenv.BuildRecorder(t)
	clamd := testenv.StartClamd(t)
	spamd := testenv.StartSpamd(t)

	control := filepath.Join(dir, "control")
	work := filepath.Join(dir, "work")
	recorded := filepath.Join(dir, "recorded")
	for _, d := range []string{control, work, recorded} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf("workdir=%s\nqmailqueue=%s\nclamd=unix:%s\nspamd=unix:%s\n", work, recorder, clamd.Unix, spamd.Unix)
	writeFile(t, filepath.Join(control, "simscan.conf"), conf)
	writeFile(t, filepath.Join(control, "ssattach"), ".exe\n.com\n.scr\n.pif\n.bat\n.vbs\n")
	rusage := filepath.Join(dir, "rusage")
	queue := filepath.Join(dir, "queue")
	writeFile(t, queue, fmt.Sprintf("#!/bin/sh\nexec %s -data %s -nofile %d -report %s %s\n", limitrun, soakDataLimit, soakNoFile, rusage, simscan))
	if err := os.Chmod(queue, 0o755); err != nil {
		t.Fatal(err)
	}
	q := testenv.StartQpsmtpd(t, queue, []string{"SIMSCAN_CONTROLDIR=" + control, "RECORDER_DIR=" + recorded})

	msgs := soakPlan(n, time.Now())
	start := time.Now()
	send(t, q.Addr(), msgs)
	took := time.Since(start)
	t.Logf("%d messages from %d clients in %v: %.1f messages/s", n, soakClients, took.Round(time.Millisecond), float64(n)/took.Seconds())

	checkReplies(t, msgs)
	checkDeliveries(t, msgs, testenv.ReadRecorded(t, recorded))
	checkLog(t, msgs, q.Log)
	checkRusage(t, msgs, rusage)
	if ents, err := os.ReadDir(work); err != nil {
		t.Fatal(err)
	} else if len(ents) > 0 {
		t.Errorf("%d entries left in the work directory, first %s", len(ents), ents[0].Name())
	}
}

// send delivers every message over SMTP, soakClients at a time, and logs
// its progress every tenth of the way.
func send(t *testing.T, addr string, msgs []*soakMsg) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	start := time.Now()
	next := make(chan *soakMsg)
	for range soakClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range next {
				m.code, m.text, m.err = testenv.SendMail(t, addr, "sender@example.com", []string{"rcpt@example.org"}, m.data)
				mu.Lock()
				done++
				if len(msgs) >= 1000 && done%(len(msgs)/10) == 0 {
					t.Logf("%d of %d messages sent in %v", done, len(msgs), time.Since(start).Round(time.Second))
				}
				mu.Unlock()
			}
		}()
	}
	for _, m := range msgs {
		next <- m
	}
	close(next)
	wg.Wait()
}

// checkReplies: 250 for what must be queued; qpsmtpd's 451 with
// simscan's exit code 31 for what must be refused.
func checkReplies(t *testing.T, msgs []*soakMsg) {
	t.Helper()
	refused := fmt.Sprintf(testenv.QpsmtpdExitText, 31)
	bad := 0
	for _, m := range msgs {
		ok := m.err == nil
		if m.accept {
			ok = ok && m.code == 250 && strings.HasPrefix(m.text, testenv.QpsmtpdQueuedPrefix)
		} else {
			ok = ok && m.code == 451 && m.text == refused
		}
		if !ok {
			bad++
			if bad <= 10 {
				t.Errorf("%s (%s, accept %v): reply %d %q, error %v", m.id, m.kind, m.accept, m.code, m.text, m.err)
			}
		}
	}
	if bad > 10 {
		t.Errorf("... %d messages in all got the wrong reply", bad)
	}
}

// checkDeliveries: every accepted message exactly once and intact,
// nothing else.
func checkDeliveries(t *testing.T, msgs []*soakMsg, recs []testenv.Recorded) {
	t.Helper()
	byID := map[string]*soakMsg{}
	for _, m := range msgs {
		byID[m.id] = m
	}
	seen := map[string]int{}
	bad := 0
	fail := func(format string, args ...any) {
		bad++
		if bad <= 10 {
			t.Errorf(format, args...)
		}
	}
	for _, r := range recs {
		id := recordedID(r.Msg)
		m := byID[id]
		if m == nil {
			fail("record %s holds no message we sent (id %q)", r.ID, id)
			continue
		}
		seen[id]++
		if !m.accept {
			fail("%s (%s) was queued, but must be refused", id, m.kind)
			continue
		}
		if want := "Fsender@example.com\x00Trcpt@example.org\x00\x00"; string(r.Env) != want {
			fail("%s: envelope %q", id, r.Env)
		}
		if err := sameMessage(r.Msg, m.data); err != nil {
			fail("%s (%s): %v", id, m.kind, err)
		}
	}
	for _, m := range msgs {
		if c := seen[m.id]; m.accept && c != 1 {
			fail("%s (%s) was queued %d times, want once", m.id, m.kind, c)
		}
	}
	if bad > 10 {
		t.Errorf("... %d problems with the deliveries in all", bad)
	}
}

// recordedID finds the IDHeader field of a delivered message.
func recordedID(msg []byte) string {
	hdr, _, _ := bytes.Cut(msg, []byte("\n\n"))
	for _, l := range strings.Split(string(hdr), "\n") {
		if v, ok := strings.CutPrefix(l, IDHeader+": "); ok {
			return v
		}
	}
	return ""
}

// sameMessage says how got, as delivered, differs from sent, once the X-Spam-
// fields and qpsmtpd's two fields are taken out.
func sameMessage(got, sent []byte) error {
	rest := stripSpamFields(got)
	loc := testenv.QpsmtpdHeaders.FindIndex(rest)
	if loc == nil || loc[0] != 0 {
		return fmt.Errorf("does not start with qpsmtpd's Received and Authentication-Results fields: %.200q", rest)
	}
	rest = rest[loc[1]:]
	if !bytes.Equal(rest, sent) {
		i := 0
		for i < len(rest) && i < len(sent) && rest[i] == sent[i] {
			i++
		}
		return fmt.Errorf("differs from what was sent at byte %d of %d (delivered %d): got %.60q, sent %.60q", i, len(sent), len(rest), rest[i:], sent[i:])
	}
	return nil
}

// stripSpamFields removes the X-Spam- header fields, continuation lines
// included, from msg's header block.
func stripSpamFields(msg []byte) []byte {
	var out []byte
	skip := false
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line = msg[:i+1]
		}
		if len(line) == 1 {
			return append(out, msg...)
		}
		msg = msg[len(line):]
		if line[0] != ' ' && line[0] != '\t' {
			skip = len(line) > 7 && strings.EqualFold(string(line[:7]), "X-Spam-")
		}
		if !skip {
			out = append(out, line...)
		}
	}
	return out
}

// logLine matches simscan's log line; the state is the third field.
var logLine = regexp.MustCompile(`(?m)^simscan:\[\d+\]:([^:]*):`)

// checkLog: simscan logged one line per message, with the state each
// kind must get, and no temporary failure.
func checkLog(t *testing.T, msgs []*soakMsg, logFile string) {
	t.Helper()
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, m := range logLine.FindAllSubmatch(data, -1) {
		state, _, _ := strings.Cut(string(m[1]), " (")
		got[state]++
	}
	want := map[string]int{}
	for _, m := range msgs {
		want[m.state]++
	}
	for state := range got {
		if _, ok := want[state]; !ok {
			want[state] = 0
		}
	}
	for state, w := range want {
		if got[state] != w {
			t.Errorf("log state %s: %d lines, want %d", state, got[state], w)
		}
	}
	if t.Failed() {
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, "TEMPFAIL") || strings.Contains(l, "simscan: ") {
				t.Logf("log: %s", l)
			}
		}
	}
}

// checkRusage: one report per simscan run, each with the exit code its
// message must get and a peak resident set within soakMaxRSS.
func checkRusage(t *testing.T, msgs []*soakMsg, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != len(msgs) {
		t.Errorf("%d simscan runs reported, want %d", len(lines), len(msgs))
	}
	var peak int64
	exits := map[int]int{}
	for _, l := range lines {
		var kb int64
		var code, pid int
		if _, err := fmt.Sscanf(l, "maxrss_kb=%d exit=%d pid=%d", &kb, &code, &pid); err != nil {
			t.Errorf("rusage report %q: %v", l, err)
			continue
		}
		peak = max(peak, kb)
		exits[code]++
	}
	wantExits := map[int]int{}
	for _, m := range msgs {
		if m.accept {
			wantExits[0]++
		} else {
			wantExits[31]++
		}
	}
	for code, n := range exits {
		if wantExits[code] != n {
			t.Errorf("%d simscan runs exited %d, want %d", n, code, wantExits[code])
		}
	}
	t.Logf("peak resident set of any simscan run: %d KiB (limit %d KiB; RLIMIT_DATA %s, RLIMIT_NOFILE %d)", peak, soakMaxRSS, soakDataLimit, soakNoFile)
	if peak > soakMaxRSS {
		t.Errorf("a simscan run used %d KiB at its peak, over %d KiB", peak, soakMaxRSS)
	}
}

// soakPlan makes n messages in the soakKinds mix, in a shuffled order.
func soakPlan(n int, now time.Time) []*soakMsg {
	total := 0
	for _, k := range soakKinds {
		total += k.weight
	}
	r := rand.New(rand.NewPCG(uint64(n), 0x50a6))
	msgs := make([]*soakMsg, 0, n)
	for i := range n {
		// Every kind in proportion, whatever n is.
		pick := (i * total / n) % total
		kind := soakKinds[0].kind
		for _, k := range soakKinds {
			if pick < k.weight {
				kind = k.kind
				break
			}
			pick -= k.weight
		}
		msgs = append(msgs, soakMessage(fmt.Sprintf("soak-%05d", i), kind, r, now))
	}
	r.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	return msgs
}

// soakMessage builds one message of a kind, choosing among variants.
func soakMessage(id, kind string, r *rand.Rand, now time.Time) *soakMsg {
	seed := r.Uint64()
	m := Message{ID: id, Date: now, Seed: seed, Size: 1<<10 + r.IntN(20<<10)}
	s := &soakMsg{id: id, kind: kind, accept: true, state: "CLEAN"}
	switch kind {
	case "clean":
		switch r.IntN(4) {
		case 0:
			m.Attach = []Attachment{{Name: "report.pdf", ContentType: "application/pdf", Data: PDF(seed, 20<<10+r.IntN(60<<10))}}
			m.Size += 30 << 10
		case 1:
			m.Attach = []Attachment{{Name: "notes.zip", ContentType: "application/zip", Data: Zip("notes.txt", Words(seed, 8<<10))}}
		case 2:
			// Larger than spam_size_limit: spamd is not asked.
			m.Size = 260<<10 + r.IntN(200<<10)
		}
	case "virus":
		s.accept, s.state = false, "VIRUS"
		switch r.IntN(3) {
		case 0:
			m.Attach = []Attachment{{Name: "readme.txt", ContentType: "text/plain", Data: []byte(testenv.EICAR)}}
		case 1:
			m.Attach = []Attachment{{Name: "files.zip", ContentType: "application/zip", Data: Zip("eicar.com.txt", []byte(testenv.EICAR))}}
		default:
			m.Text = "Reference: " + testenv.Marker
		}
	case "spam":
		s.accept, s.state = false, "SPAM REJECT"
		m.Text = testenv.GTUBE
	case "banned":
		s.accept, s.state = false, "ATTACH"
		exe := Random(seed, 2<<10)
		switch r.IntN(3) {
		case 0:
			m.Attach = []Attachment{{Name: "setup.exe", Data: exe}}
		case 1:
			m.Attach = []Attachment{{Disposition: "attachment; filename*=UTF-8''invoice%2Epdf%2Escr", Data: exe}}
		default:
			m.Attach = []Attachment{{Name: "update.zip", ContentType: "application/zip", Data: Zip("update/install.exe", exe)}}
		}
	case "malformed":
		return malformed(s, m, r)
	}
	s.data = m.Bytes()
	return s
}

// malformed builds a message with broken MIME whose fate is still
// certain: simscan reads as far as it can, so a clean one is delivered
// and one with a banned name where it can be found is refused.
func malformed(s *soakMsg, m Message, r *rand.Rand) *soakMsg {
	b := boundary(m.ID)
	body := Words(m.Seed, m.Size)
	head := func(ct string) string {
		return fmt.Sprintf("From: Bench Sender <sender@example.com>\nTo: Bench Recipient <rcpt@example.org>\n"+
			"Subject: Broken %s\nDate: %s\nMessage-ID: <%s@bench.example>\nMIME-Version: 1.0\n%s: %s\nContent-Type: %s\n\n",
			m.ID, m.Date.Format(time.RFC1123Z), m.ID, IDHeader, m.ID, ct)
	}
	var msg string
	switch v := r.IntN(5); v {
	case 0: // no closing boundary
		s.kind += "-unterminated"
		msg = head(`multipart/mixed; boundary="`+b+`"`) + "--" + b + "\nContent-Type: text/plain\n\n" + m.ID + "\n\n" + string(body)
	case 1: // an attachment that is not base64 at all
		s.kind += "-badbase64"
		msg = head(`multipart/mixed; boundary="`+b+`"`) + "--" + b + "\nContent-Type: text/plain\n\n" + m.ID + "\n\n" + string(body) +
			"\n--" + b + "\nContent-Type: application/octet-stream; name=\"data.bin\"\nContent-Transfer-Encoding: base64\n\n" +
			"!!!! this is *not* base64 ~~~~\n@@@@\n" + "\n--" + b + "--\n"
	case 2: // multipart without a boundary parameter
		s.kind += "-noboundary"
		msg = head("multipart/mixed") + m.ID + "\n\n" + string(body)
	case 3: // a part header with a line that is not a field, and a bad encoding name
		s.kind += "-badheader"
		msg = head(`multipart/mixed; boundary="`+b+`"`) + "--" + b + "\nContent-Type: text/plain\nthis line is not a header field\n" +
			"Content-Transfer-Encoding: x-unknown\n\n" + m.ID + "\n\n" + string(body) + "\n--" + b + "--\n"
	default: // no closing boundary, a banned attachment inside
		s.kind += "-unterminated-exe"
		s.accept, s.state = false, "ATTACH"
		msg = head(`multipart/mixed; boundary="`+b+`"`) + "--" + b + "\nContent-Type: text/plain\n\n" + m.ID + "\n\n" + string(body) +
			"\n--" + b + "\nContent-Type: application/octet-stream; name=\"tool.exe\"\nContent-Transfer-Encoding: base64\n\n" +
			Base64Lines(Random(m.Seed, 1<<10))
	}
	s.data = []byte(msg)
	return s
}

// goBuild builds a package of the module into out.
func goBuild(t *testing.T, root, out, pkg string, flags ...string) string {
	t.Helper()
	args := append([]string{"build", "-o", out}, flags...)
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
