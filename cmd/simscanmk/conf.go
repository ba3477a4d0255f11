package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gosimscan/simscan/control"
	"github.com/gosimscan/simscan/control/rules"
)

func init() {
	extraChecks = append(extraChecks, checkConfig)
}

// checkConfig reports every problem in simscan.conf, and rules that ask
// for a scanner simscan.conf gives no address for (simscan would answer
// every such message with a temporary failure).
func checkConfig(dir string) []rules.Problem {
	name := filepath.Join(dir, control.ConfigFile)
	cfg, errs := control.LoadAll(dir)
	var out []rules.Problem
	for _, err := range errs {
		p := rules.Problem{File: name, Severity: rules.Error, Msg: err.Error()}
		var ce *control.ConfigError
		if errors.As(err, &ce) {
			p.File, p.Line, p.Msg = ce.File, ce.Line, ce.Msg
		}
		out = append(out, p)
	}
	for _, d := range []struct{ key, path string }{{"workdir", cfg.WorkDir}, {"quarantine_dir", cfg.QuarantineDir}} {
		if d.path == "" {
			continue
		}
		if st, err := os.Stat(d.path); err != nil || !st.IsDir() {
			out = append(out, rules.Problem{File: name, Severity: rules.Error,
				Msg: fmt.Sprintf("%s %s is not a directory; create it as root: install -d -o simscan -g simscan -m 2750 %s", d.key, d.path, d.path)})
		}
	}
	src := filepath.Join(dir, "simcontrol")
	f, err := os.Open(src)
	if err != nil {
		return out // simcontrol's own check reports a missing or unreadable file
	}
	defer f.Close()
	entries, _, err := rules.Parse(f, src)
	if err != nil {
		return out
	}
	for _, e := range entries {
		for _, need := range []struct{ opt, addr, key string }{{"clam", cfg.Clamd, "clamd"}, {"spam", cfg.Spamd, "spamd"}, {"trophie", cfg.Trophie, "trophie"}} {
			if enables(e.Options, need.opt) && need.addr == "" {
				out = append(out, rules.Problem{File: src, Line: e.Line, Severity: rules.Error,
					Msg: need.opt + "=yes but simscan.conf sets no " + need.key + "= address: simscan would answer these messages with a temporary failure"})
			}
		}
	}
	return out
}

// enables reports whether an option string sets key to yes.
func enables(options, key string) bool {
	for _, o := range strings.Split(strings.ToLower(options), ",") {
		k, v, _ := strings.Cut(o, "=")
		if strings.TrimSpace(k) == key {
			if b, err := control.ParseYesNo(strings.TrimSpace(v)); err == nil && b {
				return true
			}
		}
	}
	return false
}
