package scanner

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/gosimscan/simscan/control"
)

// scripted is a check with a fixed answer that counts its calls.
type scripted struct {
	name  string
	f     Finding
	err   error
	calls int
}

func (s *scripted) Name() string { return s.name }
func (s *scripted) Check(context.Context, *Message) (Finding, error) {
	s.calls++
	return s.f, s.err
}

func TestPipelineStopsAtFirstRefusal(t *testing.T) {
	attach := &scripted{name: "attach", f: Finding{Kind: Clean}}
	clam := &scripted{name: "clamav", f: Finding{Kind: Virus, Name: "Eicar"}}
	spam := &scripted{name: "spam", f: Finding{Kind: Spam, Flagged: true, Score: 1000, Required: 5}}
	p := Pipeline{Checks: []Check{attach, clam, spam}}
	out := p.Run(context.Background(), &Message{})
	if out.Verdict.State != "VIRUS" || out.Verdict.Action != Reject {
		t.Errorf("verdict %+v", out.Verdict)
	}
	if spam.calls != 0 {
		t.Error("spam check ran after a virus was found")
	}
	if !reflect.DeepEqual(out.Ran, []string{"attach", "clamav"}) {
		t.Errorf("ran %v", out.Ran)
	}
}

func TestPipelineSpamVerdictIsFinal(t *testing.T) {
	spam := &scripted{name: "spam", f: Finding{Kind: Spam, Flagged: true, Score: 9, Required: 5, Processed: "/w/spamc.msg"}}
	p := Pipeline{Checks: []Check{&scripted{name: "clamav"}, spam}, Rules: Rules{SpamPassthru: true}}
	out := p.Run(context.Background(), &Message{})
	if out.Verdict.Action != Pass || out.Verdict.State != "PASSTHRU (9.00/5.00/5.00)" || out.Processed != "/w/spamc.msg" {
		t.Errorf("outcome %+v", out)
	}
}

func TestPipelineScannerErrors(t *testing.T) {
	boom := errors.New("connection refused")
	for _, action := range []control.ErrorAction{control.ErrorTempFail, control.ErrorPass} {
		clam := &scripted{name: "clamav", err: boom}
		spam := &scripted{name: "spam", f: Finding{Kind: Spam, Score: 1, Required: 5}}
		var logged []string
		p := Pipeline{
			Checks:  []Check{clam, spam},
			OnError: func(string) control.ErrorAction { return action },
			Logf:    func(f string, a ...any) { logged = append(logged, f) },
		}
		out := p.Run(context.Background(), &Message{})
		switch action {
		case control.ErrorTempFail:
			if out.Verdict.Action != TempFail || out.Verdict.Detail != "clamav: connection refused" || spam.calls != 0 {
				t.Errorf("tempfail: %+v, spam calls %d", out.Verdict, spam.calls)
			}
		case control.ErrorPass:
			if out.Verdict.Action != Pass || len(out.Passed) != 1 || len(logged) != 1 || spam.calls != 1 {
				t.Errorf("pass: %+v, passed %v, logged %v", out.Verdict, out.Passed, logged)
			}
		}
	}
}

func TestPipelineSkip(t *testing.T) {
	spam := &scripted{name: "spam", err: &SkipError{Reason: "RELAYCLIENT set", State: "RELAYCLIENT"}}
	p := Pipeline{Checks: []Check{&scripted{name: "clamav"}, spam}}
	out := p.Run(context.Background(), &Message{})
	if out.Verdict.Action != Pass || out.Verdict.State != "RELAYCLIENT" || len(out.Ran) != 1 {
		t.Errorf("outcome %+v", out)
	}
}
