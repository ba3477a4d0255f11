package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// report is the whole run, as written to the JSON file.
type report struct {
	Started     time.Time     `json:"started"`
	Seconds     float64       `json:"seconds"`
	GoVersion   string        `json:"go_version"`
	Platform    string        `json:"platform"`
	CPUs        int           `json:"cpus"`
	Simscan     string        `json:"simscan"`
	WorkDir     string        `json:"workdir"`
	WorkDirFS   string        `json:"workdir_fs"`
	DiskDirFS   string        `json:"diskdir_fs,omitempty"`
	Runs        int           `json:"runs"`
	Concurrency int           `json:"concurrency"`
	LoadStart   float64       `json:"load_start"`
	LoadEnd     float64       `json:"load_end"`
	Init        *initCost     `json:"init,omitempty"`
	Cells       []*cellResult `json:"cells"`
	Targets     []target      `json:"targets"`
	Notes       []string      `json:"notes,omitempty"`
}

// cellResult is one policy and message. Times are in milliseconds.
type cellResult struct {
	Policy  string `json:"policy"`
	Message string `json:"message"`
	Bytes   int    `json:"bytes"`
	Runs    int    `json:"runs"`
	State   string `json:"state"` // simscan's log state for the message

	Simscan dist  `json:"simscan_ms"`
	Floor   dist  `json:"floor_ms"`           // the recorder run directly
	Clamd   *dist `json:"clamd_ms,omitempty"` // clamd asked directly, as simscan asks it
	Spamd   *dist `json:"spamd_ms,omitempty"` // spamd asked directly, as simscan asks it
	// Baseline is floor + clamd + spamd of the same round.
	Baseline dist `json:"baseline_ms"`
	// AddedMS is the median over rounds of simscan - baseline.
	AddedMS float64 `json:"added_ms"`
	// Ratio is the median of simscan over the median of the baseline.
	Ratio float64 `json:"ratio"`

	PeakRSSKB  int64 `json:"peak_rss_kb"`  // simscan and the recorder it execs, one process
	OwnRSSKB   int64 `json:"own_rss_kb"`   // simscan execing a qmail-queue that reads nothing
	FloorRSSKB int64 `json:"floor_rss_kb"` // the recorder alone

	Throughput      float64 `json:"msgs_per_sec"`       // simscan, Concurrency at a time
	FloorThroughput float64 `json:"floor_msgs_per_sec"` // the recorder, the same way

	// SpamdChecks is how many messages spamd checked during the cell that
	// the cell did not account for (-1: spamd's log was not given).
	SpamdChecks int `json:"spamd_unexpected_checks"`

	LoadStart float64 `json:"load_start"`
	LoadEnd   float64 `json:"load_end"`
	Seconds   float64 `json:"seconds"`
}

func (c *cellResult) name() string { return c.Policy + "/" + c.Message }

// dist summarizes a set of times in milliseconds.
type dist struct {
	Median float64 `json:"median"`
	P95    float64 `json:"p95"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Mean   float64 `json:"mean"`
}

// initCost is what GODEBUG=inittrace=1 says about simscan's package init.
type initCost struct {
	Runs     int       `json:"runs"`
	TotalMS  float64   `json:"total_ms"` // median of the sum of every package's init clock
	Packages int       `json:"packages"`
	Top      []pkgInit `json:"top"`
}

type pkgInit struct {
	Package string  `json:"package"`
	MS      float64 `json:"ms"` // median
}

func sortPkgs(p []pkgInit) {
	sort.Slice(p, func(i, j int) bool {
		if p[i].MS != p[j].MS {
			return p[i].MS > p[j].MS
		}
		return p[i].Package < p[j].Package
	})
}

// target is one of the performance targets of the issue, checked against
// a cell.
type target struct {
	Goal     string `json:"goal"`
	Cell     string `json:"cell"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

func summarize(v []float64) dist {
	if len(v) == 0 {
		return dist{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	sum := 0.0
	for _, x := range s {
		sum += x
	}
	return dist{Median: quantile(s, 0.5), P95: quantile(s, 0.95), Min: s[0], Max: s[len(s)-1], Mean: sum / float64(len(s))}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return quantile(s, 0.5)
}

// quantile is the q-quantile of sorted s, interpolated between the two
// nearest ranks.
func quantile(s []float64, q float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

// finish records the run's length and checks the targets.
func (r *report) finish() {
	r.Seconds = time.Since(r.Started).Seconds()
	r.Targets = nil
	for _, c := range r.Cells {
		switch {
		case c.Policy == "passthrough" && c.Message == "text-10k":
			r.Targets = append(r.Targets, target{
				Goal:     "pass-through, 10 KB: simscan adds at most 1 ms (median)",
				Cell:     c.name(),
				Measured: fmt.Sprintf("adds %.2f ms (%.2f vs %.2f ms)", c.AddedMS, c.Simscan.Median, c.Floor.Median),
				Met:      c.AddedMS <= 1,
			})
		case c.Policy == "attach" && c.Message == "text-10k":
			r.Targets = append(r.Targets, target{
				Goal:     "attachments only, 10 KB: at most 1.3x the floor",
				Cell:     c.name(),
				Measured: fmt.Sprintf("%.2fx (%.2f vs %.2f ms)", c.Ratio, c.Simscan.Median, c.Floor.Median),
				Met:      c.Ratio <= 1.3,
			})
		case c.Policy == "attach+clamd":
			r.Targets = append(r.Targets, target{
				Goal:     "with clamd: at most floor + clamd + 1 ms",
				Cell:     c.name(),
				Measured: fmt.Sprintf("adds %.2f ms (%.2f vs %.2f + %.2f ms)", c.AddedMS, c.Simscan.Median, c.Floor.Median, c.Clamd.Median),
				Met:      c.AddedMS <= 1,
			})
		case c.Policy == "attach+clamd+spamd" && c.Message == "virus":
			// No spamd cost: spamd is never asked, which its log shows;
			// without the log, simscan adds no more over floor + clamd
			// than it does for a small clean message with clamd.
			ref := r.cell("attach+clamd", "text-5k")
			measured := fmt.Sprintf("adds %.2f ms over floor + clamd", c.AddedMS)
			if ref != nil {
				measured += fmt.Sprintf(" (attach+clamd/text-5k: %.2f ms)", ref.AddedMS)
			}
			met := ref != nil && c.AddedMS <= ref.AddedMS+1
			if c.SpamdChecks >= 0 {
				measured = fmt.Sprintf("spamd asked %d times, %s", c.SpamdChecks, measured)
				met = c.SpamdChecks == 0
			}
			r.Targets = append(r.Targets, target{
				Goal:     "virus, every scanner on: no spamd cost",
				Cell:     c.name(),
				Measured: measured,
				Met:      met,
			})
		case c.Policy == "attach+clamd+spamd" && c.Spamd != nil:
			r.Targets = append(r.Targets, target{
				Goal:     "with spamd: within 5% of floor + daemons",
				Cell:     c.name(),
				Measured: fmt.Sprintf("%.3fx (%.2f vs %.2f ms)", c.Ratio, c.Simscan.Median, c.Baseline.Median),
				Met:      c.Ratio <= 1.05,
			})
		}
		if strings.HasPrefix(c.Message, "attach-10m") {
			r.Targets = append(r.Targets, target{
				Goal:     "10 MB message: peak RSS at most 3x the message",
				Cell:     c.name(),
				Measured: fmt.Sprintf("simscan %.1f MB = %.2fx (with the recorder it execs %.1f MB)", mb(c.OwnRSSKB), float64(c.OwnRSSKB*1024)/float64(c.Bytes), mb(c.PeakRSSKB)),
				Met:      c.OwnRSSKB*1024 <= 3*int64(c.Bytes),
			})
		}
	}
}

// cell returns the result for a policy and message, or nil.
func (r *report) cell(policy, message string) *cellResult {
	for _, c := range r.Cells {
		if c.Policy == policy && c.Message == message {
			return c
		}
	}
	return nil
}

func mb(kb int64) float64 { return float64(kb) / 1024 }

// table prints the report for people.
func (r *report) table(w io.Writer) {
	fmt.Fprintf(w, "simscan benchmark matrix, %s\n", r.Started.Format("2006-01-02 15:04:05 MST"))
	fmt.Fprintf(w, "%s; %s %s, %d CPUs; load %.2f at start, %.2f at end; %.0fs\n", r.Simscan, r.GoVersion, r.Platform, r.CPUs, r.LoadStart, r.LoadEnd, r.Seconds)
	fmt.Fprintf(w, "work directory on %s", r.WorkDirFS)
	if r.DiskDirFS != "" {
		fmt.Fprintf(w, " (passthrough-disk: %s)", r.DiskDirFS)
	}
	fmt.Fprintf(w, "; %d sequential deliveries per cell, then %d at %d concurrent\n", r.Runs, r.Runs, r.Concurrency)
	if r.Init != nil {
		var top []string
		for _, p := range r.Init.Top[:min(5, len(r.Init.Top))] {
			top = append(top, fmt.Sprintf("%s %.3f", p.Package, p.MS))
		}
		fmt.Fprintf(w, "package init (GODEBUG=inittrace=1, median of %d): %.2f ms over %d packages; most: %s\n", r.Init.Runs, r.Init.TotalMS, r.Init.Packages, strings.Join(top, ", "))
	}
	fmt.Fprintln(w)
	const row = "%-31s %-6s %8s %8s %8s %8s %7s %6s %6s %7s %7s %7s %7s %5s\n"
	fmt.Fprintf(w, row, "cell", "state", "median", "p95", "floor", "daemons", "added", "ratio", "RSS", "own RSS", "flr RSS", "msg/s", "flr m/s", "load")
	fmt.Fprintf(w, row, "", "", "ms", "ms", "ms", "ms", "ms", "", "MB", "MB", "MB", "16 conc", "16 conc", "")
	for _, c := range r.Cells {
		daemons := "-"
		if c.Clamd != nil || c.Spamd != nil {
			daemons = fmt.Sprintf("%.2f", c.Baseline.Median-c.Floor.Median)
		}
		state, _, _ := strings.Cut(c.State, " (")
		fmt.Fprintf(w, row, c.name(), state,
			fmt.Sprintf("%.2f", c.Simscan.Median), fmt.Sprintf("%.2f", c.Simscan.P95), fmt.Sprintf("%.2f", c.Floor.Median),
			daemons, fmt.Sprintf("%+.2f", c.AddedMS), fmt.Sprintf("%.2fx", c.Ratio),
			fmt.Sprintf("%.1f", mb(c.PeakRSSKB)), fmt.Sprintf("%.1f", mb(c.OwnRSSKB)), fmt.Sprintf("%.1f", mb(c.FloorRSSKB)),
			fmt.Sprintf("%.0f", c.Throughput), fmt.Sprintf("%.0f", c.FloorThroughput), fmt.Sprintf("%.1f", c.LoadEnd))
	}
	if len(r.Targets) > 0 {
		fmt.Fprintln(w, "\ntargets:")
		for _, t := range r.Targets {
			mark := "MET "
			if !t.Met {
				mark = "MISS"
			}
			fmt.Fprintf(w, "  %s  %-30s %s: %s\n", mark, t.Cell, t.Goal, t.Measured)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// writeJSON writes the report to path through a temporary file.
func (r *report) writeJSON(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
