package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/capacity"
	"github.com/regstorm/regstorm/metrics"
)

// capacityFiles reports whether any of files is a capacity command's
// --summary ({"capacity": …}): then the merge is a schedule's, and every
// file must be one of its shards.
func capacityFiles(files []string) bool {
	for _, f := range files {
		if isCapacity(f) {
			return true
		}
	}
	return false
}

// isCapacity: f is JSON (an .hlog starts with a comment) with a
// "capacity" object.
func isCapacity(f string) bool {
	file, err := os.Open(f)
	if err != nil {
		return false
	}
	defer file.Close()
	r := bufio.NewReader(file)
	head, _ := r.Peek(512)
	if t := bytes.TrimSpace(head); len(t) == 0 || t[0] != '{' {
		return false
	}
	var doc struct {
		Capacity json.RawMessage `json:"capacity"`
	}
	return json.NewDecoder(r).Decode(&doc) == nil && len(doc.Capacity) > 0 && string(doc.Capacity) != "null"
}

// mergeCapacity merges the --summary files of a capacity schedule's
// shards into the result one process would have written (capacity.
// MergeShards): the same JSON, the same sentence on stderr, --fail-on
// gating it.
func mergeCapacity(c *cli.Context, files []string, n int, warn func(string) error, stdout, stderr io.Writer) error {
	contents, err := distinctFiles(files)
	if err != nil {
		return err
	}
	parts := make([]capacity.Result, len(files))
	for i, data := range contents {
		var doc struct {
			Capacity *capacity.Result `json:"capacity"`
		}
		if err := json.Unmarshal(data, &doc); err != nil || doc.Capacity == nil {
			return usagef("merge: %s is not a capacity --summary (a run's .hlog or summary?): a schedule's shards merge only with each other", files[i])
		}
		parts[i] = *doc.Capacity
	}
	res, err := capacity.MergeShards(parts, files, n)
	if err != nil {
		return usagef("merge: %v", err)
	}
	if sp := res.Schedule.StartSpreadMS; sp != nil && *sp > 1000 {
		msg := fmt.Sprintf("regstorm: merge: the shards began a step %.1f s apart (started_at): their steps did not run as one; give them one --start-at, and a --settle that leaves time for the sockets", *sp/1000)
		if err := warn(msg); err != nil {
			fmt.Fprintf(stderr, "%s\nregstorm: --warnings %s: %v\n", msg, c.String("warnings"), err)
		}
	}
	raw, err := json.Marshal(res)
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	sum := &metrics.Summary{Capacity: raw, Transport: res.Transport, ThresholdsFailed: []string{}}
	var crossed []string
	if e := c.String("fail-on"); e != "" {
		th, err := metrics.ParseThresholds(e)
		if err != nil {
			return usagef("--fail-on: %v", err)
		}
		crossed = metrics.Check(th, sum)
	}
	if err := writeCapacity(c.String("summary"), stdout, raw, sum.ThresholdsFailed); err != nil {
		return usagef("--summary: %v", err)
	}
	return sayCapacity(stderr, res.Summary(), crossed)
}
