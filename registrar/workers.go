package registrar

import "sync"

// workers lends Workers to the event loops and stream connections, one
// per message being handled. A Worker keeps counters that Stats sums, so
// none may be dropped: unlike a sync.Pool, which lets the collector drop
// idle ones (the server then made new ones and kept every one it had made,
// for its counters: a slow leak over a long run), this pool keeps each
// Worker it made and hands it out again. There are as many as messages
// were ever handled at once.
type workers struct {
	reg  *Registrar
	mu   sync.Mutex
	idle []*Worker
	all  []*Worker
}

func (p *workers) get() *Worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return w
	}
	w := p.reg.NewWorker()
	p.all = append(p.all, w)
	return w
}

func (p *workers) put(w *Worker) {
	p.mu.Lock()
	p.idle = append(p.idle, w)
	p.mu.Unlock()
}

// each calls f for every Worker made, lent or not.
func (p *workers) each(f func(*Worker)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.all {
		f(w)
	}
}
