package engine

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/regstorm/regstorm/sipwire"
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
	Users           []User // overrides the patterns when set
	RunID           uint32 // makes Call-IDs and tags unique per run
}

// directory implements nap.Directory for one lane; its buffers are the
// lane's scratch. id points at the cohort's identity, so a new password
// takes effect at each NAP's next REGISTER.
type directory struct {
	id     *Identity
	group  uint32                                     // the group's number in the run: Call-IDs differ across groups
	global func(local uint32) uint64                  // the NAP's index in its group (the whole load)
	local  func(local uint32) (host []byte, port int) // the NAP's socket address
	user   []byte
	pass   []byte
	callID []byte
	tag    []byte
	domain []byte
	ruri   []byte
	host   []byte
}

func (d *directory) Identity(local uint32, r *sipwire.Register) {
	g := d.global(local)
	domain := d.domain
	if u := d.id.Users; len(u) > 0 {
		e := &u[g%uint64(len(u))]
		d.user = append(d.user[:0], e.Name...)
		if e.Domain != "" {
			domain = append(d.host[:0], e.Domain...)
			d.host = domain
		}
	} else {
		d.user = d.id.UserPattern.Append(d.user[:0], g+d.id.UserStart)
	}
	d.callID = strconv.AppendUint(d.callID[:0], uint64(d.id.RunID), 16)
	d.callID = append(d.callID, '-')
	if d.group > 0 {
		d.callID = strconv.AppendUint(d.callID, uint64(d.group), 16)
		d.callID = append(d.callID, '-')
	}
	d.callID = strconv.AppendUint(d.callID, g, 16)
	d.callID = append(d.callID, "@regstorm"...)
	d.tag = strconv.AppendUint(append(d.tag[:0], 'r', 's'), g^uint64(d.id.RunID)<<20^uint64(d.group)<<52, 36)
	r.User, r.Domain = d.user, domain
	r.RequestURI = d.ruri
	if len(d.id.Users) > 0 && len(d.id.RequestURI) == 0 {
		r.RequestURI = nil // follow each user's own domain
	}
	r.LocalHost, r.LocalPort = d.local(local)
	r.CallID, r.FromTag = d.callID, d.tag
}

func (d *directory) Password(local uint32) []byte {
	g := d.global(local)
	if u := d.id.Users; len(u) > 0 {
		e := &u[g%uint64(len(u))]
		if e.Password == "" {
			return nil
		}
		d.pass = append(d.pass[:0], e.Password...)
		return d.pass
	}
	d.pass = d.id.PasswordPattern.Append(d.pass[:0], g+d.id.UserStart)
	return d.pass
}
