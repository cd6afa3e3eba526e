// Package profiles holds regstorm's ready-made run profiles (YAML, keys are
// the run command's flag names) and loads them, or a user's own file, with
// strict checking: an unknown key or a non-scalar value is an error naming
// the file, the line and the key. A profile may hold groups of NAPs:
//
//	target: sip:127.0.0.1:5060
//	groups:
//	  - {name: trunk-a, naps: 100, user-pattern: "a%04d"}
//	  - {name: spare, naps: 10, user-pattern: "s%04d", register: false}
//
// and lists of steps: stages (besides the flag's string form) and
// reboots:
//
//	stages:
//	  - {duration: 30s, naps: 1000, rate: 200}
//	  - {duration: 1m, naps: 5000}
//	reboots:
//	  - {at: 5m, fraction: 0.5, group: trunk-a}
//	  - {at: 8m}
package profiles

import (
	"bytes"
	"embed"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

//go:embed *.yaml
var ready embed.FS

// Setting is one key of a profile, with where it was written.
type Setting struct {
	Key, Value string
	Line       int
}

// Names lists the ready profiles.
func Names() []string {
	entries, _ := ready.ReadDir(".")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}

// Profile is a loaded profile: the top-level settings (the run's own
// keys, and defaults for every group) and its groups.
type Profile struct {
	Source   string // the file, or "profile NAME" for a ready one
	File     bool   // read from a file: it can be read again (SIGHUP)
	Settings []Setting
	Groups   []Group
	// Stages is the list form of the stages key (its string form, the
	// flag's, is a Setting); Reboots the reboots key.
	Stages  []Stage
	Reboots []Reboot
	// Lines: where each list key (groups, reboots, stages as a list) is.
	Lines map[string]int
}

// Stage is one step of a stages list: {duration: 30s, naps: 1000,
// rate: 200}, rate optional.
type Stage struct {
	Duration time.Duration
	NAPs     int
	Rate     float64 // 0: none given
	Line     int
}

// StageKeys are the keys of a stages entry.
var StageKeys = []string{"duration", "naps", "rate"}

// Reboot is one entry of the reboots list: {at: 5m, fraction: 0.5,
// group: name}; fraction 1 and every group unless given.
type Reboot struct {
	At       time.Duration
	Fraction float64
	Group    string // "": every group
	Line     int
}

// RebootKeys are the keys of a reboots entry.
var RebootKeys = []string{"at", "fraction", "group"}

// Group is one group of NAPs of a profile.
type Group struct {
	Name     string
	Line     int
	Settings []Setting // its own per-NAP keys
}

// GroupKeys are the keys a group may set, besides its name: who its NAPs
// are, where and how they register.
var GroupKeys = []string{"naps", "users", "user-pattern", "user-start", "password", "domain", "target", "proxy",
	"transport", "expires", "local-ip", "rate", "register"}

// Load reads a ready profile by name (e.g. "kamailio-udp-auth") or a YAML
// file by path, and checks every top-level key against known (plus
// "register", "groups" and "reboots"), every group's against GroupKeys,
// and the entries of the stages and reboots lists.
func Load(nameOrPath string, known []string) (*Profile, error) {
	data, src, file, err := read(nameOrPath)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, yamlError(src, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty profile", src)
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: a profile is a mapping of flag names to values", src, m.Line)
	}
	p := &Profile{Source: src, File: file, Lines: map[string]int{}}
	top := append(append([]string{}, known...), "register", "reboots")
	// The keys that hold lists, read apart from the scalar settings:
	// groups and reboots always, stages when written as a list.
	lists := map[string]*yaml.Node{}
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Value == "groups" || k.Value == "reboots" || k.Value == "stages" {
			if seen[k.Value] {
				return nil, fmt.Errorf("%s:%d: key %q given twice", src, k.Line, k.Value)
			}
			seen[k.Value] = true
			if k.Value != "stages" || v.Kind == yaml.SequenceNode {
				lists[k.Value] = v
				p.Lines[k.Value] = k.Line
			}
		}
	}
	skip := map[string]bool{"groups": true, "reboots": true, "stages": lists["stages"] != nil}
	if p.Settings, err = settings(src, m, top, skip); err != nil {
		return nil, err
	}
	if n := lists["stages"]; n != nil {
		if p.Stages, err = stages(src, n); err != nil {
			return nil, err
		}
	}
	if n := lists["reboots"]; n != nil {
		if p.Reboots, err = reboots(src, n); err != nil {
			return nil, err
		}
	}
	groups := lists["groups"]
	if groups == nil {
		return p, nil
	}
	if groups.Kind != yaml.SequenceNode || len(groups.Content) == 0 {
		return nil, fmt.Errorf("%s:%d: groups: want a list of groups, each with a name", src, groups.Line)
	}
	names := map[string]int{}
	for _, gn := range groups.Content {
		if gn.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s:%d: a group is a mapping with a name and its keys", src, gn.Line)
		}
		st, err := settings(src, gn, append([]string{"name"}, GroupKeys...), nil)
		if err != nil {
			return nil, err
		}
		g := Group{Line: gn.Line}
		for _, s := range st {
			if s.Key == "name" {
				g.Name = s.Value
			} else {
				g.Settings = append(g.Settings, s)
			}
		}
		if strings.TrimSpace(g.Name) == "" {
			return nil, fmt.Errorf("%s:%d: a group needs a name", src, gn.Line)
		}
		if first, ok := names[g.Name]; ok {
			return nil, fmt.Errorf("%s:%d: group name %q already used at line %d", src, gn.Line, g.Name, first)
		}
		names[g.Name] = gn.Line
		p.Groups = append(p.Groups, g)
	}
	return p, nil
}

// settings reads a mapping's scalar keys, each checked against known;
// skip holds keys read elsewhere.
func settings(src string, m *yaml.Node, known []string, skip map[string]bool) ([]Setting, error) {
	isKnown := map[string]bool{}
	for _, k := range known {
		isKnown[k] = true
	}
	var out []Setting
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if skip[k.Value] {
			continue
		}
		if !isKnown[k.Value] {
			return nil, fmt.Errorf("%s:%d: unknown key %q (keys here: %s)", src, k.Line, k.Value, strings.Join(known, ", "))
		}
		if seen[k.Value] {
			return nil, fmt.Errorf("%s:%d: key %q given twice", src, k.Line, k.Value)
		}
		seen[k.Value] = true
		if v.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s:%d: key %q: want a single value", src, v.Line, k.Value)
		}
		out = append(out, Setting{Key: k.Value, Value: v.Value, Line: k.Line})
	}
	return out, nil
}

// entries reads a list of mappings (key: what the list is), each entry's
// scalar keys checked against known, those in required needed.
func entries(src, key string, n *yaml.Node, known []string, example string, required ...string) ([][]Setting, []int, error) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return nil, nil, fmt.Errorf("%s:%d: %s: want a list of entries such as %s", src, n.Line, key, example)
	}
	var out [][]Setting
	var lines []int
	for _, en := range n.Content {
		if en.Kind != yaml.MappingNode {
			return nil, nil, fmt.Errorf("%s:%d: %s: an entry is a mapping such as %s", src, en.Line, key, example)
		}
		st, err := settings(src, en, known, nil)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range required {
			found := false
			for _, s := range st {
				found = found || s.Key == r
			}
			if !found {
				return nil, nil, fmt.Errorf("%s:%d: %s: an entry needs %s, as in %s", src, en.Line, key, r, example)
			}
		}
		out, lines = append(out, st), append(lines, en.Line)
	}
	return out, lines, nil
}

// stages reads a stages list: a positive duration, a number of NAPs (0
// or more) and an optional rate (NAPs a second, 0 or more) each.
func stages(src string, n *yaml.Node) ([]Stage, error) {
	const example = "{duration: 30s, naps: 1000, rate: 200}"
	list, lines, err := entries(src, "stages", n, StageKeys, example, "duration", "naps")
	if err != nil {
		return nil, err
	}
	var out []Stage
	for k, st := range list {
		s := Stage{Line: lines[k]}
		for _, kv := range st {
			bad := func(want string) error {
				return fmt.Errorf("%s:%d: stages: %s %q: want %s", src, kv.Line, kv.Key, kv.Value, want)
			}
			switch kv.Key {
			case "duration":
				if s.Duration, err = time.ParseDuration(kv.Value); err != nil || s.Duration <= 0 {
					return nil, bad("a positive duration such as 30s")
				}
			case "naps":
				if s.NAPs, err = strconv.Atoi(kv.Value); err != nil || s.NAPs < 0 {
					return nil, bad("a number of NAPs, 0 or more")
				}
			case "rate":
				if s.Rate, err = strconv.ParseFloat(kv.Value, 64); err != nil || !(s.Rate >= 0) || math.IsInf(s.Rate, 0) {
					return nil, bad("NAPs a second, 0 or more")
				}
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// reboots reads a reboots list: a positive time since the start, a
// fraction in (0, 1] (1 unless given) and a group (every group unless
// given) each. Their order and groups are the caller's to check.
func reboots(src string, n *yaml.Node) ([]Reboot, error) {
	const example = "{at: 5m, fraction: 0.5, group: trunk-a}"
	list, lines, err := entries(src, "reboots", n, RebootKeys, example, "at")
	if err != nil {
		return nil, err
	}
	var out []Reboot
	for k, st := range list {
		r := Reboot{Fraction: 1, Line: lines[k]}
		for _, kv := range st {
			bad := func(want string) error {
				return fmt.Errorf("%s:%d: reboots: %s %q: want %s", src, kv.Line, kv.Key, kv.Value, want)
			}
			switch kv.Key {
			case "at":
				if r.At, err = time.ParseDuration(kv.Value); err != nil || r.At <= 0 {
					return nil, bad("a positive time since the start such as 5m")
				}
			case "fraction":
				if r.Fraction, err = strconv.ParseFloat(kv.Value, 64); err != nil || !(r.Fraction > 0 && r.Fraction <= 1) {
					return nil, bad("more than 0, at most 1")
				}
			case "group":
				if r.Group = kv.Value; strings.TrimSpace(r.Group) == "" {
					return nil, bad("a group's name")
				}
			}
		}
		out = append(out, r)
	}
	return out, nil
}

var yamlErrRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// yamlParserProblems are the problems yaml.v3's parser (not its scanner)
// reports: it gives their line 0-based ("line 2" for the third), and
// none at all for the first; the scanner's are 1-based.
var yamlParserProblems = map[string]string{
	"did not find expected ',' or '}'":       "a { … } not closed, or a comma missing",
	"did not find expected ',' or ']'":       "a [ … ] not closed, or a comma missing",
	"did not find expected key":              "",
	"did not find expected node content":     "",
	"did not find expected '-' indicator":    "",
	"did not find expected <document start>": "",
	"did not find expected <stream-start>":   "",
	"found duplicate %TAG directive":         "",
	"found duplicate %YAML directive":        "",
	"found incompatible YAML document":       "",
	"found undefined tag handle":             "",
}

// yamlError says a YAML syntax error as file:line: problem, with the
// line yaml.v3 means (its parser's lines are one early).
func yamlError(src string, err error) error {
	m := yamlErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("%s: %v", src, err)
	}
	line := 1 // no line: the first
	hint, parser := yamlParserProblems[m[2]]
	if m[1] != "" {
		line, _ = strconv.Atoi(m[1])
		if parser {
			line++
		}
	}
	if hint != "" {
		return fmt.Errorf("%s:%d: %s (%s)", src, line, m[2], hint)
	}
	return fmt.Errorf("%s:%d: %s", src, line, m[2])
}

func read(nameOrPath string) ([]byte, string, bool, error) {
	if !IsFile(nameOrPath) {
		b, err := ready.ReadFile(nameOrPath + ".yaml")
		if err != nil {
			return nil, "", false, fmt.Errorf("no ready profile %q (ready: %s; or give a path to a .yaml file)", nameOrPath, strings.Join(Names(), ", "))
		}
		return b, "profile " + nameOrPath, false, nil
	}
	b, err := os.ReadFile(nameOrPath)
	return b, filepath.Clean(nameOrPath), true, err
}

// IsFile tells a path to a profile file from a ready profile's name.
func IsFile(nameOrPath string) bool {
	return strings.ContainsAny(nameOrPath, "/\\") || strings.HasSuffix(nameOrPath, ".yaml") || strings.HasSuffix(nameOrPath, ".yml")
}
