package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/metrics"
)

// runMerge merges the .hlog files of shards into one summary: counts are
// summed, percentiles come from the merged histogram. Shards (runs with
// --shard k/N) must be each k of N once, of one --start-at; --shards N
// says how many there must be. The --summary files of a capacity
// schedule's shards merge into its result instead (mergeCapacity).
func runMerge(c *cli.Context, stdout, stderr io.Writer) error {
	if c.Args().Len() == 0 {
		return usagef("merge: give the .hlog files of the shards")
	}
	shards := c.Int("shards")
	if shards < 0 || (c.IsSet("shards") && shards == 0) {
		return usagef("--shards %d: want the number of shards, N of --shard k/N", shards)
	}
	warn, err := mergeWarnings(c, stderr)
	if err != nil {
		return err
	}
	files := shardFiles(c.Args().Slice())
	if capacityFiles(files) {
		return mergeCapacity(c, files, shards, warn, stdout, stderr)
	}
	set, err := readShards(files)
	if err != nil {
		return err
	}
	parts, names := set.parts, set.names
	if err := metrics.CheckShards(parts, names, shards); err != nil {
		return usagef("merge: %v", err)
	}
	out := metrics.MergeSummaries(parts, set.merged)
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
	out.MergeHistograms(set.data)
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

// mergeWarnings is where the merge says its warnings: stderr, or
// --warnings' file.
func mergeWarnings(c *cli.Context, stderr io.Writer) (func(msg string) error, error) {
	warn := func(msg string) error { _, err := fmt.Fprintln(stderr, msg); return err }
	if f := c.String("warnings"); f != "" {
		if err := checkOutput("--warnings", f); err != nil {
			return nil, err
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
	return warn, nil
}

// shardFiles are the files named, globs expanded here too, so that a
// shell-less container can merge /results/*.hlog.
func shardFiles(args []string) []string {
	var files []string
	for _, a := range args {
		if m, err := filepath.Glob(a); err == nil && len(m) > 0 {
			files = append(files, m...)
		} else {
			files = append(files, a)
		}
	}
	return files
}

// shardSet is the shards read: their summaries, file names and data, and
// their transaction histograms merged.
type shardSet struct {
	parts  []*metrics.Summary
	names  []string
	data   []*metrics.Shard
	merged *hdrhistogram.Histogram
}

// readShards reads each shard's file, refusing one given twice.
func readShards(files []string) (*shardSet, error) {
	contents, err := distinctFiles(files)
	if err != nil {
		return nil, err
	}
	set := &shardSet{merged: metrics.NewHistogram()}
	for i, data := range contents {
		f := files[i]
		sh, err := metrics.ReadShard(bytes.NewReader(data))
		if err != nil {
			return nil, usagef("merge: %s: %v", f, err)
		}
		if sh.Summary == nil {
			return nil, usagef("merge: %s has no regstorm summary line (was its run cut short?)", f)
		}
		set.merged.Merge(sh.Transaction)
		set.parts = append(set.parts, sh.Summary)
		set.data = append(set.data, sh)
		set.names = append(set.names, f)
	}
	return set, nil
}

// distinctFiles reads files, refusing one given twice: a shard given
// twice would count its NAPs twice, so the same file (by any name) and
// identical copies are refused.
func distinctFiles(files []string) ([][]byte, error) {
	type shard struct {
		name string
		fi   os.FileInfo
		sum  [sha256.Size]byte
	}
	var seen []shard
	var contents [][]byte
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, usagef("merge: %v", err)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, usagef("merge: %v", err)
		}
		this := shard{f, fi, sha256.Sum256(data)}
		for _, s := range seen {
			if os.SameFile(s.fi, fi) {
				return nil, usagef("merge: %s and %s are the same file: its NAPs would count twice", s.name, f)
			}
			if s.sum == this.sum {
				return nil, usagef("merge: %s and %s have the same content (one shard twice): its NAPs would count twice", s.name, f)
			}
		}
		seen = append(seen, this)
		contents = append(contents, data)
	}
	return contents, nil
}
