package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/metrics"
)

// runMerge merges the .hlog files of shards into one summary: counts are
// summed, percentiles come from the merged histogram.
func runMerge(c *cli.Context, stdout io.Writer) error {
	if c.Args().Len() == 0 {
		return usagef("merge: give the .hlog files of the shards")
	}
	var parts []*metrics.Summary
	merged := metrics.NewHistogram()
	var files []string
	for _, a := range c.Args().Slice() {
		// Expand globs here too, so a shell-less container can merge /results/*.hlog.
		if m, err := filepath.Glob(a); err == nil && len(m) > 0 {
			files = append(files, m...)
		} else {
			files = append(files, a)
		}
	}
	for _, f := range files {
		file, err := os.Open(f)
		if err != nil {
			return usagef("merge: %v", err)
		}
		h, _, sum, err := metrics.ReadHlog(file)
		file.Close()
		if err != nil {
			return usagef("merge: %s: %v", f, err)
		}
		if sum == nil {
			return usagef("merge: %s has no regstorm summary line (was its run cut short?)", f)
		}
		merged.Merge(h)
		parts = append(parts, sum)
	}
	out := metrics.MergeSummaries(parts, merged)
	if e := c.String("fail-on"); e != "" {
		ts, err := metrics.ParseThresholds(e)
		if err != nil {
			return usagef("--fail-on: %v", err)
		}
		for _, line := range metrics.Check(ts, out) {
			fmt.Fprintf(c.App.ErrWriter, "regstorm: --fail-on crossed: %s\n", line)
		}
	}
	w := stdout
	if f := c.String("summary"); f != "-" && f != "" {
		file, err := os.Create(f)
		if err != nil {
			return usagef("--summary: %v", err)
		}
		defer file.Close()
		w = file
	}
	if err := out.WriteJSON(w); err != nil {
		return cli.Exit(err.Error(), 1)
	}
	if len(out.ThresholdsFailed) > 0 {
		return cli.Exit("", 1)
	}
	return nil
}
