package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gosimscan/simscan/control/rules"
	"github.com/gosimscan/simscan/internal/testenv"
	"github.com/gosimscan/simscan/qmail"
)

// writeRules compiles a simcontrol into the setup's simcontrol.cdb, as
// simscanmk does.
func (s *setup) writeRules(simcontrol string) {
	s.t.Helper()
	src := filepath.Join(s.control, "simcontrol")
	if err := os.WriteFile(src, []byte(simcontrol), 0o644); err != nil {
		s.t.Fatal(err)
	}
	probs, err := rules.Build(src, filepath.Join(s.control, "simcontrol.cdb"))
	if err != nil || rules.HasErrors(probs) {
		s.t.Fatalf("simcontrol: %v %v", err, probs)
	}
}

// TestRulesDecideWhatRuns drives the per-domain rules through the binary:
// which scanners run, which attachments are banned, regex rules, and the
// qmail-queue a rule names.
func TestRulesDecideWhatRuns(t *testing.T) {
	c := testenv.StartClamd(t)
	s := newSetup(t, "clamd=unix:"+c.Unix+"\n")
	os.WriteFile(filepath.Join(s.control, "ssattach"), []byte(".exe\n"), 0o644)
	other := filepath.Join(t.TempDir(), "other")
	os.Mkdir(other, 0o755)
	// simscanmk lower-cases the options of address entries, paths
	// included: keep this one lower-case.
	altDir, err := os.MkdirTemp("", "simscan-alt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(altDir) })
	alt := filepath.Join(altDir, "alt-queue")
	os.WriteFile(alt, []byte("#!/bin/sh\nRECORDER_DIR="+other+" exec "+s.recorder+"\n"), 0o755)
	s.writeRules(strings.Join([]string{
		"# scanning is off unless an entry turns it on",
		":clam=no,spam=no",
		"virus.example:clam=yes",
		"pdf.example:attach=.pdf",
		"filter.example:regex=^x-campaign\\x3a\\x20bulk$:^subject\\x3a\\swin",
		"chain@example.com:qmailqueue=" + alt,
	}, "\n") + "\n")
	eicar := withAttachment("e.txt", []byte(testenv.EICAR))
	pdf := withAttachment("report.pdf", []byte("%PDF-1.4\n"))
	exe := withAttachment("setup.exe", []byte("MZ"))
	bulk := strings.Replace(testenv.CleanMessage, "Subject:", "X-Campaign: bulk\nSubject:", 1)

	tests := []struct {
		name  string
		msg   string
		env   string
		code  qmail.ExitCode
		state string
		where string // "recorded", "other" or "" for none
	}{
		{"no rule for the domain: clamd not asked", eicar, "Fa@example.com\x00Tbob@plain.example\x00\x00", qmail.OK, "CLEAN:Files", "recorded"},
		{"clam=yes for the recipient's domain", eicar, "Fa@example.com\x00Tbob@virus.example\x00\x00", qmail.PermFail, "VIRUS:" + testenv.EICARName, ""},
		{"clam=yes for one of several recipients", eicar, "Fa@example.com\x00Tbob@plain.example\x00TX@Virus.Example\x00\x00", qmail.PermFail, "VIRUS:" + testenv.EICARName, ""},
		{"clam=yes for the sender's domain", eicar, "Fa@virus.example\x00Tbob@plain.example\x00\x00", qmail.PermFail, "VIRUS:", ""},
		{"attach rule replaces ssattach: .pdf banned", pdf, "Fa@example.com\x00Tx@pdf.example\x00\x00", qmail.PermFail, "ATTACH:report.pdf", ""},
		{"attach rule replaces ssattach: .exe allowed", exe, "Fa@example.com\x00Tx@pdf.example\x00\x00", qmail.OK, "CLEAN:", "recorded"},
		{"no attach rule: ssattach applies", exe, "Fa@example.com\x00Tx@plain.example\x00\x00", qmail.PermFail, "ATTACH:setup.exe", ""},
		{"regex rule", bulk, "Fa@example.com\x00Tx@filter.example\x00\x00", qmail.PermFail, "REGEX:#1", ""},
		{"regex rule, second pattern", strings.Replace(testenv.CleanMessage, "Subject: Lunch", "Subject: win a prize at lunch", 1), "Fa@example.com\x00Tx@filter.example\x00\x00", qmail.PermFail, "REGEX:#2", ""},
		{"qmailqueue from a rule", testenv.CleanMessage, "Fa@example.com\x00Tchain@example.com\x00\x00", qmail.OK, "CLEAN:", "other"},
		{"qmailqueue for an extension of the address", testenv.CleanMessage, "Fa@example.com\x00Tchain-list@example.com\x00\x00", qmail.OK, "CLEAN:", "other"},
		{"no qmailqueue for another address", testenv.CleanMessage, "Fa@example.com\x00Tchainx@example.com\x00\x00", qmail.OK, "CLEAN:", "recorded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.RemoveAll(s.recorded)
			os.Mkdir(s.recorded, 0o755)
			os.RemoveAll(other)
			os.Mkdir(other, 0o755)
			r := s.run(delivery{msg: strings.NewReader(tt.msg), env: tt.env})
			if r.code != int(tt.code) {
				t.Errorf("exit %d, want %d\n%s", r.code, tt.code, r.stderr)
			}
			if line := logLine(t, r.stderr); !logMatch(line, tt.state) {
				t.Errorf("log line %q does not match %q", line, tt.state)
			}
			inOther := testenv.ReadRecorded(t, other)
			switch tt.where {
			case "recorded":
				if len(r.records) != 1 || len(inOther) != 0 {
					t.Errorf("deliveries: %d to qmailqueue, %d to the rule's", len(r.records), len(inOther))
				}
			case "other":
				if len(r.records) != 0 || len(inOther) != 1 || string(inOther[0].Env) != tt.env {
					t.Errorf("deliveries: %d to qmailqueue, %d to the rule's", len(r.records), len(inOther))
				}
			default:
				if len(r.records)+len(inOther) != 0 {
					t.Error("refused message delivered")
				}
			}
			s.assertWorkEmpty()
		})
	}
}

func TestRulesNeedingAnUnconfiguredDaemonTempfail(t *testing.T) {
	s := newSetup(t, "")
	s.writeRules(":spam=yes\n")
	r := s.run(delivery{msg: strings.NewReader(cleanMsg), env: "Fa@b\x00Tc@d\x00\x00"})
	if r.code != int(qmail.TempFail) || !strings.Contains(logLine(t, r.stderr), "rules enable a scanner that simscan.conf does not configure_ spam (spamd=)") {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
	if len(r.records) != 0 {
		t.Error("delivered without the spam check the rules ask for")
	}
}
