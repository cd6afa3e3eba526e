package locate

import "errors"

// Locate's errors wrap one of these (errors.Is), with the record that
// failed in the message.
var (
	// ErrNXDomain: the queried host does not exist. (A missing SRV name
	// is not this: it only means that there is no SRV.)
	ErrNXDomain = errors.New("no such domain (NXDOMAIN)")
	// ErrServFail: the DNS server failed (SERVFAIL), or refused or could
	// not parse the query (REFUSED, FORMERR, NOTIMP).
	ErrServFail = errors.New("DNS server failure")
	// ErrTimeout: no DNS server answered in time, or none was reachable.
	ErrTimeout = errors.New("no answer from the DNS server")
	// ErrNoAnswer: the names exist but lead to no address: no records, an
	// SRV target without A or AAAA, or a service marked unavailable (".").
	ErrNoAnswer = errors.New("no address found")
)
