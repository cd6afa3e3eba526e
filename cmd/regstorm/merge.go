package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/metrics"
)

// runMerge merges the .hlog files of shards into one summary: counts are
// summed, percentiles come from the merged histogram. Shards (runs with
// --shard k/N) must be each k of N once, of one --start-at; --shards N
// says how many there must be.
func runMerge(c *cli.Context, stdout, stderr io.Writer) error {
	if c.Args().Len() == 0 {
		return usagef("merge: give the .hlog files of the shards")
	}
	shards := c.Int("shards")
	if shards < 0 || (c.IsSet("shards") && shards == 0) {
		return usagef("--shards %d: want the number of shards, N of --shard k/N", shards)
	}
	warn := func(msg string) error { _, err := fmt.Fprintln(stderr, msg); return err }
	if f := c.String("warnings"); f != "" {
		if err := checkOutput("--warnings", f); err != nil {
			return err
		}
		// Appended (a termination log may hold something), created only
		// when there is something to say.
		warn = func(msg string) error {
			w, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(w, msg)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			return err
		}
	}
	var parts []*metrics.Summary
	var names []string
	var shardData []*metrics.Shard
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
	// A shard given twice would count its NAPs twice: refuse the same file
	// (by any name) and identical copies.
	type shard struct {
		name string
		fi   os.FileInfo
		sum  [sha256.Size]byte
	}
	var seen []shard
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return usagef("merge: %v", err)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return usagef("merge: %v", err)
		}
		this := shard{f, fi, sha256.Sum256(data)}
		for _, s := range seen {
			if os.SameFile(s.fi, fi) {
				return usagef("merge: %s and %s are the same file: its NAPs would count twice", s.name, f)
			}
			if s.sum == this.sum {
				return usagef("merge: %s and %s have the same content (one shard twice): its NAPs would count twice", s.name, f)
			}
		}
		seen = append(seen, this)
		sh, err := metrics.ReadShard(bytes.NewReader(data))
		if err != nil {
			return usagef("merge: %s: %v", f, err)
		}
		if sh.Summary == nil {
			return usagef("merge: %s has no regstorm summary line (was its run cut short?)", f)
		}
		merged.Merge(sh.Transaction)
		parts = append(parts, sh.Summary)
		shardData = append(shardData, sh)
		names = append(names, f)
	}
	if err := metrics.CheckShards(parts, names, shards); err != nil {
		return usagef("merge: %v", err)
	}
	out := metrics.MergeSummaries(parts, merged)
	if sp := out.StartSpreadMS; sp != nil && *sp > 1000 && out.Shards > 0 {
		msg := fmt.Sprintf("regstorm: merge: the shards began %.1f s apart (started_at): their ramps did not make one process's; give them one --start-at", *sp/1000)
		if err := warn(msg); err != nil {
			fmt.Fprintf(stderr, "%s\nregstorm: --warnings %s: %v\n", msg, c.String("warnings"), err)
		}
	}
	// Stages by index, events by order; shards that did not run the same
	// ones are refused.
	stages, events, err := metrics.MergeStorms(parts, names)
	if err != nil {
		return usagef("merge: %v", err)
	}
	out.Stages, out.Events = stages, events
	// Every latency from the merged histograms, the timeline second by
	// second: the merged summary holds what one run's does.
	out.MergeHistograms(shardData)
	var crossed []string
	if e := c.String("fail-on"); e != "" {
		ts, err := metrics.ParseThresholds(e)
		if err != nil {
			return usagef("--fail-on: %v", err)
		}
		crossed = metrics.Check(ts, out)
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
	return exitStatus(out, crossed, nil, c.App.ErrWriter)
}
