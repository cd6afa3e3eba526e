package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/report"
)

// runReport renders summary.json (from --summary or merge) as HTML.
func runReport(c *cli.Context, stderr io.Writer) error {
	if c.Args().Len() != 1 {
		return usagef("report: give one summary JSON file")
	}
	f := c.Args().First()
	data, err := os.ReadFile(f)
	if err != nil {
		return usagef("report: %v", err)
	}
	// Any JSON object decodes into a Summary: ask for the fields every
	// summary has, so that a wrong file is refused, not drawn empty.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return usagef("report: %s: not a regstorm summary (want the JSON of --summary or merge)", f)
	}
	for _, k := range []string{"naps", "registered", "requests", "responses", "latency_ms"} {
		if _, search := fields["capacity"]; search {
			break // a capacity search's summary
		}
		if _, ok := fields[k]; !ok {
			return usagef("report: %s: not a regstorm summary: no %q", f, k)
		}
	}
	var s metrics.Summary
	if err := json.Unmarshal(data, &s); err != nil {
		return usagef("report: %s: not a regstorm summary: %v", f, err)
	}
	title := c.String("title")
	if title == "" {
		title = "regstorm: " + filepath.Base(f)
	}
	out, err := os.Create(c.String("html"))
	if err != nil {
		return usagef("--html: %v", err)
	}
	defer out.Close()
	if err := report.WriteHTML(out, &s, title); err != nil {
		return cli.Exit(err.Error(), 1)
	}
	fmt.Fprintf(stderr, "regstorm: report written to %s\n", c.String("html"))
	return nil
}
