// Package identity is who the NAPs are: user names from a pattern
// ("nap%06d") or a SIPp users file, their passwords, their AOR domain.
// The load and the embedded registrar share it.
package identity

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
)

// Pattern is a printf-like pattern with at most one integer verb ("%d",
// "%06d"), formatted without allocation.
type Pattern struct {
	prefix, suffix string
	width          int
	verb           bool
}

// ParsePattern accepts text with zero or one %d / %0Nd verb; "%%" is a
// literal percent (so that "100%%" gives the password "100%"). Escapes are
// resolved here, so Append stays a plain copy.
func ParsePattern(s string) (Pattern, error) {
	var p Pattern
	var text []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			text = append(text, s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			text = append(text, '%')
			i++
			continue
		}
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j >= len(s) || s[j] != 'd' {
			return Pattern{}, fmt.Errorf("pattern %q: only %%d or %%0Nd is supported (%%%% for a literal %%)", s)
		}
		if p.verb {
			return Pattern{}, fmt.Errorf("pattern %q: at most one %%d (%%%% for a literal %%)", s)
		}
		if j > i+1 {
			p.width, _ = strconv.Atoi(s[i+1 : j])
			if p.width > 20 || p.width < 0 { // 20 digits hold any uint64
				return Pattern{}, fmt.Errorf("pattern %q: width above 20", s)
			}
		}
		p.verb, p.prefix, text = true, string(text), nil
		i = j
	}
	if p.verb {
		p.suffix = string(text)
	} else {
		p.prefix = string(text)
	}
	return p, nil
}

// Numbered tells whether the pattern holds a %d: each number gives its
// own text. Without one, every NAP gets the same user.
func (p Pattern) Numbered() bool { return p.verb }

// String shows the pattern (as a key: escapes are not restored).
func (p Pattern) String() string {
	if !p.verb {
		return p.prefix
	}
	return fmt.Sprintf("%s%%0%dd%s", p.prefix, p.width, p.suffix)
}

// Append writes the pattern for n.
func (p Pattern) Append(dst []byte, n uint64) []byte {
	dst = append(dst, p.prefix...)
	if p.verb {
		var d [20]byte
		digits := strconv.AppendUint(d[:0], n, 10)
		for k := len(digits); k < p.width; k++ {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	}
	return append(dst, p.suffix...)
}

// User is one line of a users file.
type User struct{ Name, Domain, Password string }

// LoadUsers reads a SIPp -inf CSV: first line SEQUENTIAL or RANDOM (or
// USER), then "user;domain;password" lines (domain and password may be
// empty) and '#' comments. A blank line may only end the file: SIPp stops
// reading at one. RANDOM shuffles the order
// once, with a fixed seed so that runs repeat. Errors name file and line.
func LoadUsers(path string) ([]User, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var users []User
	order := ""
	line, blank := 0, 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" {
			if blank == 0 {
				blank = line
			}
			continue
		}
		if strings.HasPrefix(t, "#") {
			continue
		}
		if blank > 0 && order != "" {
			// SIPp stops reading at a blank line: refuse rather than let the
			// two tools see different users from one file.
			return nil, fmt.Errorf("%s:%d: blank line before more users (SIPp stops reading there; remove it)", path, blank)
		}
		blank = 0
		if order == "" {
			switch strings.ToUpper(t) {
			case "SEQUENTIAL", "RANDOM", "USER":
				order = strings.ToUpper(t)
				continue
			}
			return nil, fmt.Errorf("%s:%d: first line must be SEQUENTIAL, RANDOM or USER, got %q", path, line, t)
		}
		fields := strings.Split(t, ";")
		u := User{Name: strings.TrimSpace(fields[0])}
		if len(fields) > 1 {
			u.Domain = strings.TrimSpace(fields[1])
		}
		if len(fields) > 2 {
			u.Password = strings.TrimSpace(fields[2])
		}
		if u.Name == "" || strings.ContainsAny(u.Name, " \t<>@\"") {
			return nil, fmt.Errorf("%s:%d: bad user name %q", path, line, u.Name)
		}
		if strings.ContainsAny(u.Domain, " \t<>@\"") {
			return nil, fmt.Errorf("%s:%d: bad domain %q", path, line, u.Domain)
		}
		users = append(users, u)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %v", path, line+1, err)
	}
	if order == "" || len(users) == 0 {
		return nil, fmt.Errorf("%s: no users", path)
	}
	if order == "RANDOM" {
		r := rand.New(rand.NewPCG(1, 2))
		r.Shuffle(len(users), func(i, j int) { users[i], users[j] = users[j], users[i] })
	}
	return users, nil
}

// Identity is what every NAP shares, and how each one's own parts are made.
type Identity struct {
	UserPattern     Pattern
	UserStart       uint64
	PasswordPattern Pattern
	Domain          string // AOR domain (default: the target host)
	RequestURI      string // default sip:<domain>
	// Route is the Route field's value every request carries: an outbound
	// proxy as "<sip:host:port;lr>"; "" for none.
	Route string
	Users []User // overrides the patterns when set
	RunID uint32 // makes Call-IDs and tags unique per run
}

// DistinctAoRs counts the different AoRs (user@domain) among users, a
// user without a domain taking def. Domains compare without case, users
// as written (RFC 3261 §19.1.4).
func DistinctAoRs(users []User, def string) int {
	seen := make(map[string]struct{}, len(users))
	for _, u := range users {
		d := u.Domain
		if d == "" {
			d = def
		}
		seen[u.Name+"@"+strings.ToLower(d)] = struct{}{}
	}
	return len(seen)
}
