package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gosimscan/simscan/control"
	"github.com/gosimscan/simscan/control/rules"
	"github.com/gosimscan/simscan/scanner/clamd"
	"github.com/gosimscan/simscan/scanner/dial"
	"github.com/gosimscan/simscan/scanner/spamd"
)

func init() {
	scannerVersions = askScanners
}

// versionTimeout bounds the whole -g run.
const versionTimeout = 30 * time.Second

// askScanners asks the daemons named in simscan.conf for their versions:
// clamd with VERSION, spamd with a probe message whose X-Spam-Checker-Version
// header names SpamAssassin's version. The attachment and regex checks are
// simscan's own. A configured daemon that does not answer is an error, so
// the file is not silently written without it.
func askScanners(dir string) (map[string]string, error) {
	cfg, err := control.Load(dir)
	if err != nil {
		return nil, err
	}
	v := map[string]string{rules.VersionAttach: version, rules.VersionRegex: version}
	ctx, cancel := context.WithTimeout(context.Background(), versionTimeout)
	defer cancel()
	balance, _ := dial.ParseBalance(cfg.ScannerBalance)
	if cfg.Clamd != "" {
		addrs, err := dial.ParseList(cfg.Clamd)
		if err != nil {
			return nil, err
		}
		s, err := (&clamd.Client{Addrs: addrs, Balance: balance}).Version(ctx)
		if err != nil {
			return nil, fmt.Errorf("clamd: %w", err)
		}
		v[rules.VersionClamAV] = ClamVersion(s)
	}
	if cfg.Spamd != "" {
		addrs, err := dial.ParseList(cfg.Spamd)
		if err != nil {
			return nil, err
		}
		s, err := (&spamd.Client{Addrs: addrs, Balance: balance}).Version(ctx)
		if err != nil {
			return nil, fmt.Errorf("spamd: %w", err)
		}
		v[rules.VersionSpam] = s
	}
	if cfg.Trophie != "" {
		// The Trophie/Sophie protocol has no version request.
		v[rules.VersionTrophie] = "unknown"
	}
	return v, nil
}

// ClamVersion turns clamd's VERSION reply, "ClamAV 1.0.7/27000/Sat Nov 21
// 09:00:00 2026", into the short form simscan's Received header has always
// shown: engine and database version, "1.0.7/27000". A clamd with only
// unofficial signatures answers just "ClamAV 1.4.3".
func ClamVersion(reply string) string {
	s := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(reply), "ClamAV "))
	parts := strings.Split(s, "/")
	if len(parts) > 2 {
		parts = parts[:2]
	}
	return strings.Join(parts, "/")
}
