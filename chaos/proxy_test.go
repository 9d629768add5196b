package chaos

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// linkMode is what a proxy does with the traffic of its link.
type linkMode int32

const (
	// linkPass forwards bytes both ways.
	linkPass linkMode = iota
	// linkRefuse closes every connection and accepts new ones only to
	// close them: the peer sees errors at once.
	linkRefuse
	// linkDrop keeps connections open but discards every byte, both ways:
	// the peer sees silence, as behind a dead switch. Connections that
	// were dropping are closed when the link heals, since bytes were lost.
	linkDrop
)

func (m linkMode) String() string {
	return [...]string{"pass", "refuse", "drop"}[m]
}

// proxy is a fault-injecting TCP proxy for one directed peer link: the
// connections one node opens to another go through it.
type proxy struct {
	l      net.Listener
	target string
	mode   atomic.Int32

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newProxy(target string) (*proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{l: l, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *proxy) addr() string { return p.l.Addr().String() }

// set changes the link's mode.
func (p *proxy) set(m linkMode) {
	old := linkMode(p.mode.Swap(int32(m)))
	if old == m {
		return
	}
	if m == linkRefuse || old == linkDrop {
		p.closeConns()
	}
}

// close stops the proxy and waits for its goroutines.
func (p *proxy) close() {
	p.l.Close()
	p.closeConns()
	p.wg.Wait()
}

func (p *proxy) closeConns() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// track registers conns to be closed on a mode change.
func (p *proxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

func (p *proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		c.Close()
	}
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(c)
		}()
	}
}

func (p *proxy) handle(c net.Conn) {
	switch linkMode(p.mode.Load()) {
	case linkRefuse:
		c.Close()
		return
	case linkDrop:
		p.track(c)
		_, _ = io.Copy(io.Discard, c)
		p.untrack(c)
		return
	}
	up, err := net.DialTimeout("tcp", p.target, time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.track(c, up)
	if linkMode(p.mode.Load()) != linkPass { // cut while dialing
		p.untrack(c, up)
		return
	}
	done := make(chan struct{}, 2)
	go func() { p.pipe(up, c); done <- struct{}{} }()
	go func() { p.pipe(c, up); done <- struct{}{} }()
	<-done
	p.untrack(c, up) // closing both ends ends the other pipe
	<-done
}

// pipe copies src to dst until either fails, discarding what it reads while
// the link drops.
func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && linkMode(p.mode.Load()) == linkPass {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
