// Package control reads simscan's run-time configuration from the control
// directory: simscan.conf (key=value settings that replace the C simscan's
// ./configure options) and ssattach (the global attachment list). The
// per-address rules in simcontrol.cdb live in the rules subpackage, the cdb
// format itself in the cdb subpackage.
package control

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gosimscan/simscan/scanner/dial"
)

// The built-in locations. The Makefile sets them at build time from
// CONTROLDIR, WORKDIR and QMAILDIR.
var (
	DefaultDir        = "/var/qmail/control"         // the control directory
	DefaultWorkDir    = "/var/qmail/simscan"         // workdir's default
	DefaultQmailQueue = "/var/qmail/bin/qmail-queue" // qmailqueue's default
)

// ConfigFile is the name of the settings file in the control directory.
const ConfigFile = "simscan.conf"

// ErrorAction says what a failure means: a temporary failure, so the sender
// retries, or carrying on as if the check had passed.
type ErrorAction string

// The actions for on_scanner_error, clamd_on_error and spamd_on_error.
const (
	ErrorTempFail ErrorAction = "tempfail"
	ErrorPass     ErrorAction = "pass"
)

// LimitAction says what happens to a message that hits a MIME or archive
// limit.
type LimitAction string

// The actions for on_limit.
const (
	LimitReject   LimitAction = "reject"
	LimitTempFail LimitAction = "tempfail"
	LimitPass     LimitAction = "pass"
)

// Config holds every simscan.conf setting. The zero value is not useful;
// start from Defaults.
type Config struct {
	WorkDir    string // workdir: base of the per-message work directories
	QmailQueue string // qmailqueue: the program run after the checks

	Clamd          string        // clamd: comma-separated unix:/path or host:port, empty for none
	Spamd          string        // spamd: the same, empty for none
	Trophie        string        // trophie: unix:/path of a Trophie or Sophie socket
	ScannerBalance string        // scanner_balance: ordered or random
	ScanTimeout    time.Duration // scan_timeout: one deadline for all scanners of a message
	OnScannerError ErrorAction   // on_scanner_error
	ClamdOnError   ErrorAction   // clamd_on_error, empty to follow on_scanner_error
	SpamdOnError   ErrorAction   // spamd_on_error, empty to follow on_scanner_error
	TrophieOnError ErrorAction   // trophie_on_error, empty to follow on_scanner_error

	SpamHits      float64 // spam_hits, when SpamHitsSet
	SpamHitsSet   bool
	SpamPassthru  bool  // spam_passthru
	SpamSizeLimit int64 // spam_size_limit: larger messages skip the spam check
	SpamAuthUser  bool  // spam_auth_user: also spam-check RELAYCLIENT senders
	SpamcUser     bool  // spamc_user: the sole recipient is spamd's User

	DropMsg      bool // dropmsg: accept and discard refused mail
	CustomReject bool // custom_reject: refusal text on the error fd
	ErrorFD      int  // error_fd: -1 for auto (fd 4 and/or 6, where a pipe)
	Received     bool // received: add simscan's Received header

	AttachArchives    bool        // attach_archives: look at names inside archives
	AttachEncrypted   string      // attach_encrypted: pass or reject
	MaxMIMEDepth      int         // max_mime_depth
	MaxMIMEParts      int         // max_mime_parts
	MaxArchiveDepth   int         // max_archive_depth
	MaxArchiveMembers int         // max_archive_members
	MaxDecodedBytes   int64       // max_decoded_bytes
	MaxRatio          int         // max_ratio
	OnLimit           LimitAction // on_limit

	QuarantineDir     string   // quarantine_dir: empty for no quarantine
	QuarantineClasses []string // quarantine_classes
	QuarantineMaxMB   int64    // quarantine_max_mb: 0 for no cap

	StaleAge time.Duration // stale_age: work directories older than this are removed
}

// Defaults returns the settings used when simscan.conf does not set a key.
func Defaults() Config {
	return Config{
		WorkDir:           DefaultWorkDir,
		QmailQueue:        DefaultQmailQueue,
		ScannerBalance:    "ordered",
		ScanTimeout:       60 * time.Second,
		OnScannerError:    ErrorTempFail,
		SpamSizeLimit:     250000,
		CustomReject:      true,
		ErrorFD:           -1,
		AttachArchives:    true,
		AttachEncrypted:   "pass",
		MaxMIMEDepth:      20,
		MaxMIMEParts:      1000,
		MaxArchiveDepth:   4,
		MaxArchiveMembers: 10000,
		MaxDecodedBytes:   200 << 20,
		MaxRatio:          100,
		OnLimit:           LimitReject,
		QuarantineClasses: []string{"spam"},
		StaleAge:          time.Hour,
	}
}

// key describes one simscan.conf key: how to set it and what it means.
type key struct {
	set  func(c *Config, v string) error
	help string
}

var keys = map[string]key{
	"workdir":             {str(func(c *Config) *string { return &c.WorkDir }, true), "base directory of the per-message work directories"},
	"qmailqueue":          {str(func(c *Config) *string { return &c.QmailQueue }, true), "program run after the checks (qmail-queue)"},
	"clamd":               {addrList(func(c *Config) *string { return &c.Clamd }), "clamd addresses, comma-separated unix:/path or host:port; empty for no ClamAV"},
	"spamd":               {addrList(func(c *Config) *string { return &c.Spamd }), "spamd addresses, comma-separated unix:/path or host:port; empty for no SpamAssassin"},
	"trophie":             {addrList(func(c *Config) *string { return &c.Trophie }), "Trophie or Sophie socket, unix:/path; empty for none"},
	"scanner_balance":     {oneOf(func(c *Config) *string { return &c.ScannerBalance }, "ordered", "random"), "ordered (first address first) or random"},
	"scan_timeout":        {duration(func(c *Config) *time.Duration { return &c.ScanTimeout }), "deadline for all scanners of one message"},
	"on_scanner_error":    {errAction(func(c *Config) *ErrorAction { return &c.OnScannerError }), "tempfail or pass when a scanner fails"},
	"clamd_on_error":      {errAction(func(c *Config) *ErrorAction { return &c.ClamdOnError }), "override of on_scanner_error for clamd"},
	"spamd_on_error":      {errAction(func(c *Config) *ErrorAction { return &c.SpamdOnError }), "override of on_scanner_error for spamd"},
	"trophie_on_error":    {errAction(func(c *Config) *ErrorAction { return &c.TrophieOnError }), "override of on_scanner_error for trophie"},
	"spam_hits":           {setSpamHits, "refuse spam scoring at least this; unset: refuse what spamd flags"},
	"spam_passthru":       {yesNo(func(c *Config) *bool { return &c.SpamPassthru }), "deliver flagged spam with spamd's headers"},
	"spam_size_limit":     {size(func(c *Config) *int64 { return &c.SpamSizeLimit }), "messages larger than this skip the spam check"},
	"spam_auth_user":      {yesNo(func(c *Config) *bool { return &c.SpamAuthUser }), "spam-check senders with RELAYCLIENT set too"},
	"spamc_user":          {yesNo(func(c *Config) *bool { return &c.SpamcUser }), "pass the sole recipient to spamd as User"},
	"dropmsg":             {yesNo(func(c *Config) *bool { return &c.DropMsg }), "accept and discard refused mail instead of refusing it"},
	"custom_reject":       {yesNo(func(c *Config) *bool { return &c.CustomReject }), "write the refusal text to the error fd (exit 82)"},
	"error_fd":            {setErrorFD, "auto (fd 4 and/or 6 where a pipe) or a descriptor number"},
	"received":            {yesNo(func(c *Config) *bool { return &c.Received }), "add a Received header naming the scanners"},
	"attach_archives":     {yesNo(func(c *Config) *bool { return &c.AttachArchives }), "check names inside zip, tar and gzip files"},
	"attach_encrypted":    {oneOf(func(c *Config) *string { return &c.AttachEncrypted }, "pass", "reject"), "pass or reject encrypted archive members"},
	"max_mime_depth":      {count(func(c *Config) *int { return &c.MaxMIMEDepth }), "deepest MIME nesting examined"},
	"max_mime_parts":      {count(func(c *Config) *int { return &c.MaxMIMEParts }), "most MIME parts examined"},
	"max_archive_depth":   {count(func(c *Config) *int { return &c.MaxArchiveDepth }), "deepest archive nesting examined"},
	"max_archive_members": {count(func(c *Config) *int { return &c.MaxArchiveMembers }), "most archive members examined"},
	"max_decoded_bytes":   {size(func(c *Config) *int64 { return &c.MaxDecodedBytes }), "most bytes decoded from one message"},
	"max_ratio":           {count(func(c *Config) *int { return &c.MaxRatio }), "largest decompression ratio accepted"},
	"on_limit":            {limitAction, "reject, tempfail or pass at a MIME or archive limit"},
	"quarantine_dir":      {str(func(c *Config) *string { return &c.QuarantineDir }, false), "directory of quarantined messages; empty for none"},
	"quarantine_classes":  {setClasses, "comma-separated: virus, spam, attach, regex, limit"},
	"quarantine_max_mb":   {megabytes, "size cap of the quarantine in MB; 0 for none"},
	"stale_age":           {duration(func(c *Config) *time.Duration { return &c.StaleAge }), "age after which left-over work directories are removed"},
}

// Keys returns every simscan.conf key with a line of help, sorted.
func Keys() [][2]string {
	var out [][2]string
	for k, v := range keys {
		out = append(out, [2]string{k, v.help})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// QuarantineClasses lists the classes quarantine_classes accepts.
var QuarantineClasses = []string{"virus", "spam", "attach", "regex", "limit"}

// ConfigError is a problem in simscan.conf, with its place.
type ConfigError struct {
	File string
	Line int
	Msg  string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Load reads simscan.conf from dir. A missing file gives the defaults. Any
// unknown key or bad value is an error naming the file and line.
func Load(dir string) (Config, error) {
	c, errs := LoadAll(dir)
	if len(errs) > 0 {
		return c, errs[0]
	}
	return c, nil
}

// LoadAll is Load reporting every problem instead of the first.
func LoadAll(dir string) (Config, []error) {
	name := filepath.Join(dir, ConfigFile)
	c := Defaults()
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, []error{err}
	}
	defer f.Close()
	return c, Parse(&c, f, name)
}

// Parse applies the key=value lines of r to c. Blank lines and lines whose
// first non-blank character is # are ignored; keys are case-insensitive and
// values are trimmed.
func Parse(c *Config, r io.Reader, name string) []error {
	var errs []error
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			errs = append(errs, &ConfigError{name, n, fmt.Sprintf("expected key=value, got %q", line)})
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		kd, ok := keys[k]
		if !ok {
			errs = append(errs, &ConfigError{name, n, fmt.Sprintf("unknown key %q", k)})
			continue
		}
		if err := kd.set(c, v); err != nil {
			errs = append(errs, &ConfigError{name, n, fmt.Sprintf("%s: %v", k, err)})
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return errs
}

// ParseYesNo reads the yes/no values used by simscan.conf and simcontrol.
func ParseYesNo(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes", "y", "1", "true", "on":
		return true, nil
	case "no", "n", "0", "false", "off":
		return false, nil
	}
	return false, fmt.Errorf("want yes or no, got %q", v)
}

// ParseSize reads a byte count with an optional k, m or g suffix (powers of
// 1024).
func ParseSize(v string) (int64, error) {
	mult := int64(1)
	s := strings.ToLower(v)
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "m"):
		mult, s = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "g"):
		mult, s = 1<<30, s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a size such as 250000 or 10m, got %q", v)
	}
	return n * mult, nil
}

func str(field func(*Config) *string, required bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		if required && v == "" {
			return errors.New("must not be empty")
		}
		*field(c) = v
		return nil
	}
}

// addrList checks a daemon address list when it is read, so a typo is a
// configuration error rather than a failure of every scan.
func addrList(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v != "" {
			if _, err := dial.ParseList(v); err != nil {
				return err
			}
		}
		*field(c) = v
		return nil
	}
}

func oneOf(field func(*Config) *string, allowed ...string) func(*Config, string) error {
	return func(c *Config, v string) error {
		v = strings.ToLower(v)
		for _, a := range allowed {
			if v == a {
				*field(c) = v
				return nil
			}
		}
		return fmt.Errorf("want one of %s, got %q", strings.Join(allowed, ", "), v)
	}
}

func yesNo(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := ParseYesNo(v)
		if err != nil {
			return err
		}
		*field(c) = b
		return nil
	}
}

func count(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("want a positive whole number, got %q", v)
		}
		*field(c) = n
		return nil
	}
}

func size(field func(*Config) *int64) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := ParseSize(v)
		if err != nil {
			return err
		}
		*field(c) = n
		return nil
	}
}

func duration(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			// A bare number is seconds, as in most qmail tools.
			n, err2 := strconv.Atoi(v)
			if err2 != nil {
				return fmt.Errorf("want a duration such as 60s or 2m, got %q", v)
			}
			d = time.Duration(n) * time.Second
		}
		if d <= 0 {
			return fmt.Errorf("want a positive duration, got %q", v)
		}
		*field(c) = d
		return nil
	}
}

func errAction(field func(*Config) *ErrorAction) func(*Config, string) error {
	return func(c *Config, v string) error {
		switch a := ErrorAction(strings.ToLower(v)); a {
		case ErrorTempFail, ErrorPass:
			*field(c) = a
			return nil
		}
		return fmt.Errorf("want tempfail or pass, got %q", v)
	}
}

func limitAction(c *Config, v string) error {
	switch a := LimitAction(strings.ToLower(v)); a {
	case LimitReject, LimitTempFail, LimitPass:
		c.OnLimit = a
		return nil
	}
	return fmt.Errorf("want reject, tempfail or pass, got %q", v)
}

func setSpamHits(c *Config, v string) error {
	if v == "" {
		c.SpamHitsSet = false
		return nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f != f {
		return fmt.Errorf("want a number such as 10.0, got %q", v)
	}
	c.SpamHits, c.SpamHitsSet = f, true
	return nil
}

func megabytes(c *Config, v string) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > 1<<40 {
		return fmt.Errorf("want a whole number of megabytes, got %q", v)
	}
	c.QuarantineMaxMB = n
	return nil
}

func setErrorFD(c *Config, v string) error {
	if strings.ToLower(v) == "auto" {
		c.ErrorFD = -1
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 3 || n > 1023 {
		return fmt.Errorf("want auto or a descriptor number from 3 to 1023, got %q", v)
	}
	c.ErrorFD = n
	return nil
}

func setClasses(c *Config, v string) error {
	var out []string
	for _, s := range strings.Split(v, ",") {
		s = strings.ToLower(strings.TrimSpace(s))
		if s == "" {
			continue
		}
		known := false
		for _, k := range QuarantineClasses {
			known = known || s == k
		}
		if !known {
			return fmt.Errorf("unknown class %q (want %s)", s, strings.Join(QuarantineClasses, ", "))
		}
		out = append(out, s)
	}
	c.QuarantineClasses = out
	return nil
}

// ErrorActionFor returns what a failure of the named scanner (clamd, spamd
// or trophie) means, after per-scanner overrides.
func (c *Config) ErrorActionFor(scanner string) ErrorAction {
	var o ErrorAction
	switch scanner {
	case "clamd":
		o = c.ClamdOnError
	case "spamd":
		o = c.SpamdOnError
	case "trophie":
		o = c.TrophieOnError
	}
	if o != "" {
		return o
	}
	return c.OnScannerError
}

// Quarantines reports whether class is among quarantine_classes.
func (c *Config) Quarantines(class string) bool {
	if c.QuarantineDir == "" {
		return false
	}
	for _, k := range c.QuarantineClasses {
		if k == class {
			return true
		}
	}
	return false
}

// ReadAttachList reads ssattach from dir: one extension per line, blank
// lines and # comments ignored, lower-cased. A missing file is an empty
// list.
func ReadAttachList(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "ssattach"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.ToLower(strings.TrimSpace(line))
		if line == "" || line[0] == '#' {
			continue
		}
		out = append(out, line)
	}
	return out, nil
}
