package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// rssProbes is how many deliveries of each kind each cell makes under
// limitrun to measure peak memory: simscan with a qmail-queue that reads
// nothing (its own peak), simscan with the recorder, the recorder alone.
const rssProbes = 5

// Exit codes simscan answers with in the matrix (qmail-queue(8)).
const (
	exitOK       = 0
	exitPermFail = 31 // a refused message without an error fd
)

// matrix runs every cell and returns the report, complete or as far as it
// got.
func (b *runner) matrix(ctx context.Context) (*report, error) {
	var filter *regexp.Regexp
	if b.o.cells != "" {
		var err error
		if filter, err = regexp.Compile(b.o.cells); err != nil {
			return nil, fmt.Errorf("-cells: %v", err)
		}
	}
	rep := &report{
		Started:     time.Now(),
		GoVersion:   runtime.Version(),
		Platform:    runtime.GOOS + "/" + runtime.GOARCH,
		CPUs:        runtime.NumCPU(),
		Simscan:     b.version,
		WorkDir:     b.workBase,
		WorkDirFS:   b.workFS,
		Runs:        b.o.runs,
		Concurrency: b.o.concurrency,
		LoadStart:   loadAvg(),
	}
	if b.diskBase != "" {
		rep.DiskDirFS = fsType(b.diskBase)
	}
	if b.clam == nil || b.spam == nil {
		rep.Notes = append(rep.Notes, "cells that need a daemon without an address (-clamd, -spamd) were left out")
	}
	init, err := measureInit(b.o.simscan, 50)
	if err != nil {
		fmt.Fprintf(b.log, "simscanbench: package init: %v\n", err)
	} else {
		rep.Init = init
	}
	for _, p := range b.policies {
		for _, m := range b.messages {
			if !b.wanted(p, m) {
				continue
			}
			name := p.Name + "/" + m.Name
			if filter != nil && !filter.MatchString(name) {
				continue
			}
			if !b.available(p) {
				continue
			}
			fmt.Fprintf(b.log, "simscanbench: %s: %d runs...", name, b.o.runs)
			c, err := b.cell(ctx, p, m)
			if err != nil {
				fmt.Fprintln(b.log)
				rep.LoadEnd = loadAvg()
				rep.finish()
				return rep, fmt.Errorf("%s: %w", name, err)
			}
			fmt.Fprintf(b.log, " %.0fs, median %.2fms\n", c.Seconds, c.Simscan.Median)
			rep.Cells = append(rep.Cells, c)
		}
	}
	rep.LoadEnd = loadAvg()
	rep.finish()
	return rep, nil
}

// wanted says whether the matrix has a cell for p and m: the virus only
// with every scanner on, the work directory on disk only for the 10 KB
// pass-through.
func (b *runner) wanted(p *policy, m *message) bool {
	switch {
	case p.Disk:
		return m.Name == "text-10k"
	case m.Virus:
		return p.Attach && p.Clamd && p.Spamd
	}
	return true
}

// cell measures one policy and message.
func (b *runner) cell(ctx context.Context, p *policy, m *message) (*cellResult, error) {
	start := time.Now()
	c := &cellResult{Policy: p.Name, Message: m.Name, Bytes: len(m.Data), Runs: b.o.runs, LoadStart: loadAvg(), SpamdChecks: -1}
	want := exitOK
	if m.Virus {
		want = exitPermFail
	}
	spamdBefore := b.spamdChecks()

	state, err := b.verify(p, m, want)
	if err != nil {
		return nil, err
	}
	c.State = state
	for range rssProbes {
		kb, code, err := b.peakRSS(b.o.simscan, b.simscanEnv(p.rssCtl), m)
		if err != nil {
			return nil, err
		}
		if code != want {
			return nil, fmt.Errorf("simscan with qmailqueue=%s exited %d, want %d", b.trueProg, code, want)
		}
		c.OwnRSSKB = max(c.OwnRSSKB, kb)
		if kb, code, err = b.peakRSS(b.o.simscan, b.simscanEnv(p.control), m); err != nil {
			return nil, err
		}
		if code != want {
			return nil, fmt.Errorf("simscan exited %d, want %d", code, want)
		}
		c.PeakRSSKB = max(c.PeakRSSKB, kb)
		if kb, code, err = b.peakRSS(b.o.recorder, floorEnv, m); err != nil {
			return nil, err
		}
		if code != exitOK {
			return nil, fmt.Errorf("recorder exited %d", code)
		}
		c.FloorRSSKB = max(c.FloorRSSKB, kb)
	}

	// Sequential runs: the floor and simscan in turn, in an order that
	// changes every time, so that a change in the machine's load touches
	// both alike. With daemons, the floor runs right after clamd and spamd
	// have been asked directly, as qmail-queue runs right after simscan
	// has asked them: on a small virtual machine a process that starts
	// after a wait of 100 ms for spamd runs slower, and the floor should
	// pay that as simscan does.
	var sim, floor, clam, spam, baseline, added []float64
	order := rand.New(rand.NewPCG(uint64(len(m.Data)), 7))
	daemons := p.Clamd || p.Spamd
	for range b.o.runs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var s, f, cl, sp float64
		for _, step := range order.Perm(2) {
			if step == 0 {
				d, err := deliver(b.o.simscan, b.simscanEnv(p.control), m.Data, false)
				if err != nil {
					return nil, err
				}
				if d.Code != want {
					return nil, fmt.Errorf("simscan exited %d, want %d", d.Code, want)
				}
				s = ms(d.Wall)
				continue
			}
			if daemons {
				var err error
				if cl, sp, err = b.daemons(ctx, p, m); err != nil {
					return nil, err
				}
			}
			d, err := deliver(b.o.recorder, floorEnv, m.Data, false)
			if err != nil {
				return nil, err
			}
			if d.Code != exitOK {
				return nil, fmt.Errorf("recorder exited %d", d.Code)
			}
			f = ms(d.Wall)
		}
		sim = append(sim, s)
		floor = append(floor, f)
		clam = append(clam, cl)
		spam = append(spam, sp)
		baseline = append(baseline, f+cl+sp)
		added = append(added, s-f-cl-sp)
	}
	c.Simscan, c.Floor, c.Baseline = summarize(sim), summarize(floor), summarize(baseline)
	if p.Clamd {
		d := summarize(clam)
		c.Clamd = &d
	}
	if p.Spamd && b.spamdRuns(m) {
		d := summarize(spam)
		c.Spamd = &d
	}
	c.AddedMS = median(added)
	c.Ratio = c.Simscan.Median / c.Baseline.Median

	// Throughput: the same number of deliveries, c at a time.
	took, err := concurrently(ctx, b.o.runs, b.o.concurrency, func() error {
		d, err := deliver(b.o.simscan, b.simscanEnv(p.control), m.Data, false)
		if err == nil && d.Code != want {
			err = fmt.Errorf("simscan exited %d under load, want %d", d.Code, want)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	c.Throughput = float64(b.o.runs) / took.Seconds()
	took, err = concurrently(ctx, b.o.runs, b.o.concurrency, func() error {
		d, err := deliver(b.o.recorder, floorEnv, m.Data, false)
		if err == nil && d.Code != exitOK {
			err = fmt.Errorf("recorder exited %d under load", d.Code)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	c.FloorThroughput = float64(b.o.runs) / took.Seconds()

	if spamdBefore >= 0 {
		c.SpamdChecks = b.spamdChecks() - spamdBefore
		if p.Spamd && b.spamdRuns(m) {
			// The verification run, the direct checks, the sequential
			// and the concurrent runs each asked once per message.
			c.SpamdChecks -= 1 + rssProbes + 3*b.o.runs
		}
	}
	if err := emptyDir(p.work); err != nil {
		return nil, err
	}
	c.LoadEnd = loadAvg()
	c.Seconds = time.Since(start).Seconds()
	return c, nil
}

// peakRSS measures one delivery of m by prog under limitrun.
func (b *runner) peakRSS(prog string, environ []string, m *message) (kb int64, code int, err error) {
	return peakRSS(b.o.limitrun, filepath.Join(b.base, "rss"), prog, environ, m.file, b.envFile)
}

// floorEnv is the recorder's environment when it runs as the floor: no
// RECORDER_DIR, so it reads everything and keeps nothing.
var floorEnv = []string{"PATH=/usr/bin:/bin"}

// simscanEnv is simscan's environment, as qmail-smtpd under tcpserver
// would give it.
func (b *runner) simscanEnv(control string) []string {
	return []string{"PATH=/usr/bin:/bin", "SIMSCAN_CONTROLDIR=" + control, "TCPREMOTEIP=127.0.0.1"}
}

// spamdRuns says whether simscan asks spamd about m at all.
func (b *runner) spamdRuns(m *message) bool {
	return !m.Virus && len(m.Data) <= spamSizeLimit
}

// daemons asks clamd and spamd directly what simscan asks them for m, and
// returns how long each took in milliseconds (0 for a daemon that is not
// asked).
func (b *runner) daemons(ctx context.Context, p *policy, m *message) (clam, spam float64, err error) {
	if !p.Clamd && !p.Spamd {
		return 0, 0, nil
	}
	f, err := os.Open(m.file)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	if p.Clamd {
		start := time.Now()
		r, err := b.clam.Scan(ctx, f)
		clam = ms(time.Since(start))
		if err != nil {
			return 0, 0, err
		}
		if r.Infected != m.Virus {
			return 0, 0, fmt.Errorf("clamd says %q", r.Raw)
		}
	}
	if p.Spamd && b.spamdRuns(m) {
		start := time.Now()
		_, err := b.spam.Process(ctx, f, int64(len(m.Data)), "", discard{})
		spam = ms(time.Since(start))
		if err != nil {
			return 0, 0, err
		}
	}
	return clam, spam, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// verify delivers m once to a recorder that keeps what it reads, and
// checks the exit code, the log line and, for a message that passes, the
// delivery: the same envelope and the same message, apart from spamd's
// X-Spam- header fields. It returns the log line's state.
func (b *runner) verify(p *policy, m *message, want int) (string, error) {
	rec, err := os.MkdirTemp(b.base, "recorded-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(rec)
	env := append(b.simscanEnv(p.control), "RECORDER_DIR="+rec)
	d, err := deliver(b.o.simscan, env, m.Data, true)
	if err != nil {
		return "", err
	}
	state := logState(d.Stderr)
	if d.Code != want {
		return state, fmt.Errorf("simscan exited %d, want %d: %s", d.Code, want, d.Stderr)
	}
	wantState := "CLEAN"
	if m.Virus {
		wantState = "VIRUS"
	}
	if state != wantState && !strings.HasPrefix(state, wantState+" (") {
		return state, fmt.Errorf("log state %q, want %s: %s", state, wantState, d.Stderr)
	}
	ents, err := os.ReadDir(rec)
	if err != nil {
		return state, err
	}
	if m.Virus {
		if len(ents) != 0 {
			return state, fmt.Errorf("refused message was queued")
		}
		return state, nil
	}
	if len(ents) != 1 {
		return state, fmt.Errorf("%d deliveries, want 1", len(ents))
	}
	got, err := os.ReadFile(filepath.Join(rec, ents[0].Name(), "msg"))
	if err != nil {
		return state, err
	}
	gotEnv, err := os.ReadFile(filepath.Join(rec, ents[0].Name(), "env"))
	if err != nil {
		return state, err
	}
	if string(gotEnv) != envelope {
		return state, fmt.Errorf("envelope delivered as %q", gotEnv)
	}
	if !bytes.Equal(withoutSpamHeaders(got), m.Data) {
		return state, fmt.Errorf("delivered message differs from the one sent (%d bytes, sent %d)", len(got), len(m.Data))
	}
	return state, nil
}

// withoutSpamHeaders removes the X-Spam- header fields (and their
// continuation lines) from msg's header block.
func withoutSpamHeaders(msg []byte) []byte {
	var out []byte
	skipping := false
	rest := msg
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i+1], rest[i+1:]
		} else {
			rest = nil
		}
		if len(line) == 1 { // the blank line: the body follows untouched
			return append(append(out, line...), rest...)
		}
		if line[0] == ' ' || line[0] == '\t' {
			if !skipping {
				out = append(out, line...)
			}
			continue
		}
		skipping = len(line) > 7 && strings.EqualFold(string(line[:7]), "X-Spam-")
		if !skipping {
			out = append(out, line...)
		}
	}
	return out
}

// logState returns the STATE field of simscan's log line in stderr:
// simscan:[PPID]:STATE:T.TTTTs:...
func logState(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "simscan:[") {
			f := strings.SplitN(l, ":", 4)
			if len(f) == 4 {
				return f[2]
			}
		}
	}
	return ""
}

// spamdChecks counts the messages spamd's log says it was asked about, or
// -1 without a log.
func (b *runner) spamdChecks() int {
	if b.o.spamdLog == "" {
		return -1
	}
	data, err := os.ReadFile(b.o.spamdLog)
	if err != nil {
		return -1
	}
	return bytes.Count(data, []byte("spamd: processing message ")) + bytes.Count(data, []byte("spamd: checking message "))
}

// emptyDir fails unless dir is empty: simscan removes its work directory
// on every path.
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("%d entries left in the work directory %s, first %s", len(ents), dir, ents[0].Name())
	}
	return nil
}

// loadAvg is the one-minute load average, or -1.
func loadAvg() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// measureInit runs "simscan -v" n times with GODEBUG=inittrace=1 and
// returns the median total of the package init clock times and the
// packages that cost the most.
func measureInit(simscan string, n int) (*initCost, error) {
	per := map[string][]float64{}
	var totals []float64
	for range n {
		cmd := exec.Command(simscan, "-v")
		cmd.Env = []string{"GODEBUG=inittrace=1", "PATH=/usr/bin:/bin"}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return nil, err
		}
		total := 0.0
		for name, v := range parseInitTrace(stderr.String()) {
			per[name] = append(per[name], v)
			total += v
		}
		totals = append(totals, total)
	}
	if len(per) == 0 {
		return nil, errors.New("no inittrace lines from " + simscan)
	}
	ic := &initCost{Runs: n, TotalMS: median(totals), Packages: len(per)}
	for name, v := range per {
		ic.Top = append(ic.Top, pkgInit{Package: name, MS: median(v)})
	}
	sortPkgs(ic.Top)
	if len(ic.Top) > 8 {
		ic.Top = ic.Top[:8]
	}
	return ic, nil
}

// parseInitTrace returns the init clock time in milliseconds of every
// package in GODEBUG=inittrace=1 output, whose lines read
//
//	init internal/bytealg @0.008 ms, 0.002 ms clock, 0 bytes, 0 allocs
func parseInitTrace(out string) map[string]float64 {
	per := map[string]float64{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 7 || f[0] != "init" || f[5] != "ms" || f[6] != "clock," {
			continue
		}
		if v, err := strconv.ParseFloat(f[4], 64); err == nil {
			per[f[1]] += v
		}
	}
	return per
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
