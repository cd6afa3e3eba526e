package engine

import (
	"strconv"

	"github.com/regstorm/regstorm/identity"
	"github.com/regstorm/regstorm/sipwire"
)

// directory implements nap.Directory for one lane; its buffers are the
// lane's scratch. id points at the cohort's identity, so a new password
// takes effect at each NAP's next REGISTER.
type directory struct {
	id     *identity.Identity
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
	route  []byte
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
	d.route = append(d.route[:0], d.id.Route...) // a reload may change it
	r.Route = d.route
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
