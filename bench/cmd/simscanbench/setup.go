package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gosimscan/simscan/bench"
	"github.com/gosimscan/simscan/internal/testenv"
	"github.com/gosimscan/simscan/scanner/clamd"
	"github.com/gosimscan/simscan/scanner/dial"
	"github.com/gosimscan/simscan/scanner/spamd"
)

type options struct {
	simscan, recorder string
	limitrun          string
	clamd, spamd      string
	spamdLog          string
	runs, concurrency int
	jsonPath          string
	workBase          string
	diskBase          string
	cells             string
}

// policy is one simscan configuration of the matrix.
type policy struct {
	Name   string
	Attach bool // ssattach lists banned extensions
	Clamd  bool
	Spamd  bool
	Disk   bool // the work directory is on the -diskdir file system

	control string // control directory delivering to the recorder
	rssCtl  string // the same, delivering to a program that reads nothing
	work    string
}

// message is one message of the matrix.
type message struct {
	Name  string
	Data  []byte
	Virus bool   // simscan must refuse it as a virus
	file  string // the message in a file, for the direct daemon scans
}

// envelope is what qmail-smtpd writes on fd 1 for every message.
const envelope = "Fsender@example.com\x00Trcpt@example.org\x00\x00"

// bannedExts is ssattach for the attachment policies: the usual list.
var bannedExts = []string{".exe", ".com", ".scr", ".pif", ".bat", ".cmd", ".vbs", ".js", ".jse", ".wsf", ".hta", ".cpl", ".msi", ".lnk"}

// spamSizeLimit is simscan's default spam_size_limit: larger messages are
// not sent to spamd.
const spamSizeLimit = 250000

// runner is one run of the matrix.
type runner struct {
	o        options
	log      io.Writer
	base     string // our temporary directory (control, messages)
	workBase string // parent of the work directories, removed at close
	diskBase string
	workFS   string
	trueProg string // a qmail-queue that reads nothing, for RSS probes
	envFile  string // the envelope in a file
	version  string

	clam *clamd.Client
	spam *spamd.Client

	policies []*policy
	messages []*message
}

func newBench(o options, log io.Writer) (*runner, error) {
	b := &runner{o: o, log: log}
	for _, p := range []*string{&b.o.simscan, &b.o.recorder, &b.o.limitrun} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, err
		}
		if fi, err := os.Stat(abs); err != nil || fi.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("%s is not an executable file", abs)
		}
		*p = abs
	}
	out, err := exec.Command(b.o.simscan, "-v").Output()
	if err != nil {
		return nil, fmt.Errorf("%s -v: %v", b.o.simscan, err)
	}
	b.version = strings.TrimSpace(string(out))
	if b.trueProg, err = exec.LookPath("true"); err != nil {
		return nil, err
	}
	if b.o.clamd != "" {
		addrs, err := dial.ParseList(b.o.clamd)
		if err != nil {
			return nil, fmt.Errorf("-clamd: %v", err)
		}
		b.clam = &clamd.Client{Addrs: addrs}
	}
	if b.o.spamd != "" {
		addrs, err := dial.ParseList(b.o.spamd)
		if err != nil {
			return nil, fmt.Errorf("-spamd: %v", err)
		}
		b.spam = &spamd.Client{Addrs: addrs}
	}
	if b.base, err = os.MkdirTemp("", "simscanbench-"); err != nil {
		return nil, err
	}
	wb := b.o.workBase
	if wb == "" {
		wb = os.TempDir()
		if fsType("/dev/shm") == "tmpfs" {
			wb = "/dev/shm"
		}
	}
	if b.workBase, err = os.MkdirTemp(wb, "simscanbench-work-"); err != nil {
		b.close()
		return nil, err
	}
	b.workFS = fsType(b.workBase)
	if b.o.diskBase != "" {
		if b.diskBase, err = os.MkdirTemp(b.o.diskBase, "simscanbench-disk-"); err != nil {
			b.close()
			return nil, err
		}
	}
	if err := b.setup(); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

func (b *runner) close() {
	for _, d := range []string{b.base, b.workBase, b.diskBase} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
}

// setup builds the messages and writes a control directory per policy.
func (b *runner) setup() error {
	now := time.Now()
	text := func(name string, size int) *message {
		m := bench.Message{ID: name, Subject: "Notes for the " + name + " run", Date: now, Size: size, Seed: 1}
		return &message{Name: name, Data: m.Bytes()}
	}
	pdfData := bench.PDF(2, 72<<10)
	pdf := bench.Message{ID: "pdf-100k", Subject: "Quarterly report", Date: now, Size: 100 << 10, Seed: 2,
		Attach: []bench.Attachment{{Name: "report.pdf", ContentType: "application/pdf", Data: pdfData}}}
	big := bench.Message{ID: "attach-10m", Subject: "Survey data", Date: now, Size: 10 << 20, Seed: 3,
		Attach: []bench.Attachment{{Name: "survey.dat", Data: bench.Random(3, rawFor(10<<20-4<<10))}}}
	virus := bench.Message{ID: "virus", Subject: "Your documents", Date: now, Size: 4 << 10, Seed: 4,
		Attach: []bench.Attachment{{Name: "readme.txt", ContentType: "text/plain", Data: []byte(testenv.EICAR)}}}
	b.messages = []*message{
		text("text-5k", 5<<10),
		text("text-10k", 10<<10),
		{Name: "pdf-100k", Data: pdf.Bytes()},
		{Name: "attach-10m", Data: big.Bytes()},
		{Name: "virus", Data: virus.Bytes(), Virus: true},
	}
	if err := os.Mkdir(filepath.Join(b.base, "msg"), 0o755); err != nil {
		return err
	}
	b.envFile = filepath.Join(b.base, "msg", "envelope")
	if err := os.WriteFile(b.envFile, []byte(envelope), 0o644); err != nil {
		return err
	}
	for _, m := range b.messages {
		m.file = filepath.Join(b.base, "msg", m.Name+".eml")
		if err := os.WriteFile(m.file, m.Data, 0o644); err != nil {
			return err
		}
	}

	b.policies = []*policy{
		{Name: "passthrough"},
		{Name: "attach", Attach: true},
		{Name: "attach+clamd", Attach: true, Clamd: true},
		{Name: "attach+clamd+spamd", Attach: true, Clamd: true, Spamd: true},
	}
	if b.diskBase != "" {
		b.policies = append(b.policies, &policy{Name: "passthrough-disk", Disk: true})
	}
	for _, p := range b.policies {
		if err := b.writeControl(p); err != nil {
			return err
		}
	}
	return nil
}

// writeControl writes the policy's two control directories and makes its
// work directory.
func (b *runner) writeControl(p *policy) error {
	parent := b.workBase
	if p.Disk {
		parent = b.diskBase
	}
	p.work = filepath.Join(parent, p.Name)
	p.control = filepath.Join(b.base, "control", p.Name)
	p.rssCtl = filepath.Join(b.base, "control-rss", p.Name)
	var conf strings.Builder
	if p.Clamd {
		fmt.Fprintf(&conf, "clamd=%s\n", b.o.clamd)
	}
	if p.Spamd {
		fmt.Fprintf(&conf, "spamd=%s\n", b.o.spamd)
	}
	for _, d := range []struct{ dir, queue string }{{p.control, b.o.recorder}, {p.rssCtl, b.trueProg}} {
		if err := os.MkdirAll(d.dir, 0o755); err != nil {
			return err
		}
		text := fmt.Sprintf("workdir=%s\nqmailqueue=%s\n%s", p.work, d.queue, conf.String())
		if err := os.WriteFile(filepath.Join(d.dir, "simscan.conf"), []byte(text), 0o644); err != nil {
			return err
		}
		if p.Attach {
			if err := os.WriteFile(filepath.Join(d.dir, "ssattach"), []byte(strings.Join(bannedExts, "\n")+"\n"), 0o644); err != nil {
				return err
			}
		}
	}
	return os.MkdirAll(p.work, 0o755)
}

// rawFor is how many bytes encode in base64 lines (76 characters and a
// line end for every 57 bytes) to about n bytes.
func rawFor(n int) int { return n / 77 * 57 }

// available says whether the daemons the policy needs were given.
func (b *runner) available(p *policy) bool {
	return (!p.Clamd || b.clam != nil) && (!p.Spamd || b.spam != nil)
}

// fsType names the file system that holds path, as far as statfs tells.
func fsType(path string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return "unknown"
	}
	switch st.Type {
	case 0x01021994:
		return "tmpfs"
	case 0xef53:
		return "ext4"
	case 0x58465342:
		return "xfs"
	case 0x9123683e:
		return "btrfs"
	case 0x794c7630:
		return "overlayfs"
	}
	return fmt.Sprintf("0x%x", st.Type)
}
