package scanner

import (
	"github.com/gosimscan/simscan/control"
	"github.com/gosimscan/simscan/mime"
)

// Build returns the checks the policy asks for, in simscan's order:
// attachments, regex, clamd, trophie, spamd. writeParts makes the MIME split
// keep each decoded part in the work directory (for trophie and debugging).
func Build(cfg *control.Config, p *Policy, m *Message, logf func(string, ...any), writeParts bool) []Check {
	var checks []Check
	if len(p.Attach) > 0 || cfg.AttachEncrypted == "reject" || p.Trophie || writeParts {
		opt := mime.Options{Archives: cfg.AttachArchives, Limits: Limits(cfg)}
		if p.Trophie || writeParts {
			opt.Dir = m.Dir
		}
		checks = append(checks, &AttachCheck{Exts: p.Attach, Options: opt, Encrypted: cfg.AttachEncrypted == "reject"})
	}
	if len(p.Regex) > 0 {
		checks = append(checks, &RegexCheck{Patterns: p.Regex, Logf: logf})
	}
	checks = append(checks, engines(cfg, p, m)...)
	return checks
}

// Limits returns the MIME and archive limits from simscan.conf.
func Limits(cfg *control.Config) mime.Limits {
	return mime.Limits{
		MaxDepth:          cfg.MaxMIMEDepth,
		MaxParts:          cfg.MaxMIMEParts,
		MaxArchiveDepth:   cfg.MaxArchiveDepth,
		MaxArchiveMembers: cfg.MaxArchiveMembers,
		MaxDecodedBytes:   cfg.MaxDecodedBytes,
		MaxRatio:          cfg.MaxRatio,
	}
}

// CheckDaemon maps a check name to the daemon its error setting is named
// after (clamd_on_error, spamd_on_error, trophie_on_error).
func CheckDaemon(check string) string {
	switch check {
	case "clamav":
		return "clamd"
	case "spam":
		return "spamd"
	}
	return check
}
