package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/gosimscan/simscan/control"
	"github.com/gosimscan/simscan/spool"
)

func init() {
	commands["cleanup"] = command{"remove work directories left behind by killed simscan processes", runCleanup}
}

// runCleanup removes stale work directories: those older than stale_age
// from simscan.conf, or --older-than.
func runCleanup(e *env, args []string) int {
	fs := flag.NewFlagSet("cleanup", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	age := fs.Duration("older-than", 0, "remove work directories older than this (default stale_age from simscan.conf)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return 2
	}
	cfg, err := control.Load(e.control)
	if err != nil {
		e.errorf("cleanup: %v", err)
		return 2
	}
	if *age <= 0 {
		*age = cfg.StaleAge
	}
	removed, err := spool.RemoveStale(cfg.WorkDir, *age, time.Now())
	for _, r := range removed {
		fmt.Fprintf(e.stdout, "removed %s\n", r)
	}
	if err != nil {
		e.errorf("cleanup: %v", err)
		return 1
	}
	fmt.Fprintf(e.stdout, "%d stale work directories removed from %s\n", len(removed), cfg.WorkDir)
	return 0
}
