package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gosimscan/simscan/control"
	"github.com/gosimscan/simscan/mime"
	"github.com/gosimscan/simscan/scanner"
)

func init() {
	commands["check"] = command{"dry run of the whole pipeline on a message file; nothing is queued", runCheck}
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// checkReport is what check prints, as text or JSON.
type checkReport struct {
	Verdict  string        `json:"verdict"` // pass, reject, tempfail, drop
	State    string        `json:"state"`
	Detail   string        `json:"detail"`
	Text     string        `json:"text,omitempty"`
	Checks   []string      `json:"checks"`
	Passed   []string      `json:"passed_errors,omitempty"`
	Policy   checkPolicy   `json:"policy"`
	Parts    []checkPart   `json:"parts"`
	Problems []string      `json:"problems,omitempty"`
	Envelope checkEnvelope `json:"envelope"`
}

type checkEnvelope struct {
	From string   `json:"from"`
	To   []string `json:"to"`
}

type checkPolicy struct {
	Mode         string   `json:"mode"`
	Attach       []string `json:"attach"`
	Regex        []string `json:"regex"`
	Clam         bool     `json:"clam"`
	Spam         bool     `json:"spam"`
	Trophie      bool     `json:"trophie"`
	SpamHits     *float64 `json:"spam_hits,omitempty"`
	SpamPassthru bool     `json:"spam_passthru"`
}

type checkPart struct {
	File        string        `json:"file"`
	ContentType string        `json:"content_type"`
	Size        int64         `json:"size"`
	Origin      string        `json:"origin"`
	RawNames    []string      `json:"raw_names"`
	Names       []string      `json:"names"` // normalised, archive members included
	Members     []mime.Member `json:"members,omitempty"`
}

// runCheck runs a message file through the same policy and checks as
// simscan, with nothing queued. Exit 0 pass, 1 refused, 2 temporary failure
// or error.
func runCheck(e *env, args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	from := fs.String("from", "", "envelope sender (default the null sender)")
	var rcpts listFlag
	fs.Var(&rcpts, "rcpt", "envelope recipient (repeatable; default postmaster)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	relay := fs.Bool("relayclient", false, "check as if RELAYCLIENT were set")
	remote := fs.String("remote-ip", "127.0.0.1", "TCPREMOTEIP to assume")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		e.errorf("check: want one message file")
		return 2
	}
	if len(rcpts) == 0 {
		rcpts = listFlag{"postmaster"}
	}
	rep, err := checkFile(e.control, fs.Arg(0), *from, rcpts, *relay, *remote)
	if err != nil {
		e.errorf("check: %v", err)
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		printCheck(e.stdout, rep)
	}
	switch rep.Verdict {
	case "pass":
		return 0
	case "reject", "drop":
		return 1
	}
	return 2
}

// checkFile spools the file into a temporary work directory and runs the
// pipeline on it, as simscan's queue mode does.
func checkFile(controlDir, path, from string, to []string, relay bool, remoteIP string) (*checkReport, error) {
	cfg, err := control.Load(controlDir)
	if err != nil {
		return nil, err
	}
	src, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	dir, err := os.MkdirTemp("", "simscan-check-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	msg, err := os.Create(filepath.Join(dir, "msg"))
	if err != nil {
		return nil, err
	}
	defer msg.Close()
	size, err := io.Copy(msg, src)
	if err != nil {
		return nil, err
	}
	m := &scanner.Message{Dir: dir, Path: msg.Name(), File: msg, Size: size, From: from, To: to, RemoteIP: remoteIP, RelayClient: relay}
	pol, err := scanner.LoadPolicy(controlDir, &cfg, from, to)
	if err != nil {
		return nil, err
	}
	rep := &checkReport{Envelope: checkEnvelope{from, to}, Parts: []checkPart{}, Checks: []string{}}
	rep.Policy = checkPolicy{Mode: pol.Mode, Attach: pol.Attach, Regex: pol.Regex, Clam: pol.Clam, Spam: pol.Spam, Trophie: pol.Trophie, SpamPassthru: pol.SpamPassthru}
	if pol.SpamHitsSet {
		h := pol.SpamHits
		rep.Policy.SpamHits = &h
	}
	var logs []string
	logf := func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
	checks := scanner.Build(&cfg, pol, m, logf, true)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ScanTimeout)
	defer cancel()
	p := &scanner.Pipeline{
		Checks:  checks,
		Rules:   pol.Judge(&cfg),
		OnError: func(c string) control.ErrorAction { return cfg.ErrorActionFor(scanner.CheckDaemon(c)) },
		Logf:    logf,
	}
	out := p.Run(ctx, m)
	rep.Verdict = out.Verdict.Action.String()
	rep.State, rep.Detail, rep.Text = out.Verdict.State, out.Verdict.Detail, out.Verdict.Text
	rep.Checks = append(rep.Checks, out.Ran...)
	for _, err := range out.Passed {
		rep.Passed = append(rep.Passed, err.Error())
	}
	rep.Problems = logs
	for _, c := range checks {
		if a, ok := c.(*scanner.AttachCheck); ok && a.Result != nil {
			rep.Problems = append(rep.Problems, a.Result.Problems...)
			for _, part := range a.Result.Parts {
				cp := checkPart{File: part.File, ContentType: part.ContentType, Size: part.Size, Origin: part.Origin,
					RawNames: nonNil(part.RawNames), Names: nonNil(part.Names), Members: part.Members}
				cp.Names = append(cp.Names, memberNames(part.Members)...)
				rep.Parts = append(rep.Parts, cp)
			}
		}
	}
	return rep, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return append([]string{}, s...)
}

func memberNames(ms []mime.Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
		out = append(out, memberNames(m.Members)...)
	}
	return out
}

func printCheck(w io.Writer, r *checkReport) {
	fmt.Fprintf(w, "verdict:  %s\n", r.Verdict)
	fmt.Fprintf(w, "state:    %s\n", r.State)
	if r.Detail != "" {
		fmt.Fprintf(w, "detail:   %s\n", safe(r.Detail))
	}
	if r.Text != "" {
		fmt.Fprintf(w, "reply:    %s\n", safe(r.Text))
	}
	fmt.Fprintf(w, "envelope: from <%s> to %s\n", safe(r.Envelope.From), safe(strings.Join(r.Envelope.To, ", ")))
	fmt.Fprintf(w, "policy:   %s mode; attach %s; regex %d; clam %v; spam %v; trophie %v\n",
		r.Policy.Mode, strings.Join(r.Policy.Attach, ":"), len(r.Policy.Regex), r.Policy.Clam, r.Policy.Spam, r.Policy.Trophie)
	fmt.Fprintf(w, "checks:   %s\n", strings.Join(r.Checks, ", "))
	for _, p := range r.Passed {
		fmt.Fprintf(w, "passed over: %s\n", safe(p))
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "note:     %s\n", safe(p))
	}
	fmt.Fprintf(w, "parts:    %d\n", len(r.Parts))
	for i, p := range r.Parts {
		fmt.Fprintf(w, "  %2d %-10s %-30s %8d bytes  %s\n", i+1, p.File, p.ContentType, p.Size, p.Origin)
		for _, n := range p.RawNames {
			fmt.Fprintf(w, "       name  %q\n", n)
		}
		if len(p.Names) > 0 {
			fmt.Fprintf(w, "       normalised  %s\n", safe(strings.Join(p.Names, ", ")))
		}
		printMembers(w, p.Members, "       ")
	}
}

func printMembers(w io.Writer, ms []mime.Member, indent string) {
	for _, m := range ms {
		enc := ""
		if m.Encrypted {
			enc = " (encrypted)"
		}
		fmt.Fprintf(w, "%smember %q -> %s%s\n", indent, m.RawName, safe(m.Name), enc)
		printMembers(w, m.Members, indent+"  ")
	}
}

// safe keeps text from the message from steering the terminal.
func safe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}
