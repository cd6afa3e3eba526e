// Package profiles holds regstorm's ready-made run profiles (YAML, keys are
// the run command's flag names) and loads them, or a user's own file, with
// strict checking: an unknown key or a non-scalar value is an error naming
// the file, the line and the key.
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

// Load reads a ready profile by name (e.g. "kamailio-udp-auth") or a YAML
// file by path, and checks every key against known.
func Load(nameOrPath string, known []string) ([]Setting, error) {
	data, src, err := read(nameOrPath)
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
	isKnown := map[string]bool{}
	for _, k := range known {
		isKnown[k] = true
	}
	var out []Setting
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if !isKnown[k.Value] {
			return nil, fmt.Errorf("%s:%d: unknown key %q (keys are the run flags: %s)", src, k.Line, k.Value, strings.Join(known, ", "))
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

func read(nameOrPath string) ([]byte, string, error) {
	if !strings.ContainsAny(nameOrPath, "/\\") && !strings.HasSuffix(nameOrPath, ".yaml") && !strings.HasSuffix(nameOrPath, ".yml") {
		b, err := ready.ReadFile(nameOrPath + ".yaml")
		if err != nil {
			return nil, "", fmt.Errorf("no ready profile %q (ready: %s; or give a path to a .yaml file)", nameOrPath, strings.Join(Names(), ", "))
		}
		return b, "profile " + nameOrPath, nil
	}
	b, err := os.ReadFile(nameOrPath)
	return b, filepath.Clean(nameOrPath), err
}
