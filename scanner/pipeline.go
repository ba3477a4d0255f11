package scanner

import (
	"context"
	"errors"

	"github.com/gosimscan/simscan/control"
)

// Pipeline runs checks in a fixed order, cheapest first, and stops at the
// first final verdict.
type Pipeline struct {
	Checks []Check
	Rules  Rules
	// OnError says what a failed check means, by check name; nil means
	// tempfail for every check.
	OnError func(check string) control.ErrorAction
	// Logf records checks that failed but were passed by configuration.
	Logf func(format string, args ...any)
}

// Outcome is the result of running a pipeline on one message.
type Outcome struct {
	Verdict   Verdict
	Ran       []string  // the checks that gave an answer, in order
	Findings  []Finding // what each of them found
	Passed    []error   // check errors passed over by configuration
	Processed string    // spamd's processed message to deliver instead of the raw one
}

// ErrSkipped is returned by a check that chose not to run for this message
// (a spam check for a large message, say). It is not a failure.
var ErrSkipped = errors.New("check skipped")

// Run runs the checks on m. It stops at the first verdict that is not Pass.
// When every check passes, the verdict is the last spam verdict if spamd
// gave one (CLEAN, SPAM PASS or PASSTHRU with scores), else CLEAN.
func (p *Pipeline) Run(ctx context.Context, m *Message) Outcome {
	var out Outcome
	final := Verdict{Action: Pass, State: "CLEAN"}
	for _, c := range p.Checks {
		f, err := c.Check(ctx, m)
		if errors.Is(err, ErrSkipped) {
			var skip *SkipError
			if errors.As(err, &skip) && skip.State != "" && final.State == "CLEAN" {
				final.State = skip.State
			}
			continue
		}
		if err != nil {
			action := control.ErrorTempFail
			if p.OnError != nil {
				action = p.OnError(c.Name())
			}
			if action == control.ErrorPass {
				out.Passed = append(out.Passed, err)
				if p.Logf != nil {
					p.Logf("%s failed, passing the message as on_scanner_error says: %v", c.Name(), err)
				}
				continue
			}
			out.Verdict = ScannerError(c.Name(), err)
			return out
		}
		out.Ran = append(out.Ran, c.Name())
		out.Findings = append(out.Findings, f)
		v := Decide(f, p.Rules)
		if v.Action != Pass {
			out.Verdict = v
			return out
		}
		if f.Kind == Spam {
			final = v
			out.Processed = f.Processed
		} else if v.Detail != "" && final.Detail == "" {
			final.Detail = v.Detail
		}
	}
	out.Verdict = final
	return out
}

// SkipError says why a check did not run; State, if set, becomes the log
// state of a message that passes (RELAYCLIENT, as simscan logs it).
type SkipError struct {
	Reason string
	State  string
}

func (e *SkipError) Error() string { return "skipped: " + e.Reason }

// Is makes errors.Is(err, ErrSkipped) true for every SkipError.
func (e *SkipError) Is(target error) bool { return target == ErrSkipped }
