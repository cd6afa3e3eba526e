// Package profiles holds regstorm's ready-made run profiles (YAML, keys are
// the run command's flag names) and loads them, or a user's own file, with
// strict checking: an unknown key or a non-scalar value is an error naming
// the file, the line and the key. A profile may hold groups of NAPs:
//
//	target: sip:127.0.0.1:5060
//	groups:
//	  - {name: trunk-a, naps: 100, user-pattern: "a%04d"}
//	  - {name: spare, naps: 10, user-pattern: "s%04d", register: false}
package profiles

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

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
}

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
// "register" and "groups") and every group's against GroupKeys.
func Load(nameOrPath string, known []string) (*Profile, error) {
	data, src, file, err := read(nameOrPath)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %v", src, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty profile", src)
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: a profile is a mapping of flag names to values", src, m.Line)
	}
	p := &Profile{Source: src, File: file}
	top := append(append([]string{}, known...), "register")
	var groups *yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Value == "groups" {
			if groups != nil {
				return nil, fmt.Errorf("%s:%d: key %q given twice", src, k.Line, k.Value)
			}
			groups = m.Content[i+1]
		}
	}
	if p.Settings, err = settings(src, m, top, "groups"); err != nil {
		return nil, err
	}
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
		st, err := settings(src, gn, append([]string{"name"}, GroupKeys...), "")
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
// skip is a key read elsewhere.
func settings(src string, m *yaml.Node, known []string, skip string) ([]Setting, error) {
	isKnown := map[string]bool{}
	for _, k := range known {
		isKnown[k] = true
	}
	var out []Setting
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Value == skip && skip != "" {
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
