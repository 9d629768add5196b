package chaos

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopWait bounds how long a process may take to exit after a signal.
const stopWait = 10 * time.Second

// crashLog collects the exits the test did not cause.
type crashLog struct {
	mu   sync.Mutex
	list []string
}

func (c *crashLog) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, s)
}

func (c *crashLog) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.list...)
}

// proc is a child process the test starts, kills and restarts: a
// coordinator node or a participant. Its output goes to one log file,
// appended across restarts. An exit the test did not ask for is recorded in
// crashes.
type proc struct {
	name    string
	bin     string
	args    []string
	logPath string
	crashes *crashLog

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the running incarnation has exited
	stopping bool          // the test signalled the running incarnation
	lastExit error         // how the last incarnation exited
	starts   int
}

// start starts the process; it must not be running.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s is already running", p.name)
	}
	f, err := os.OpenFile(p.logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(f, "=== chaos: start #%d of %s at %s\n", p.starts, p.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Should the test process die, its children die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.stopping = cmd, exited, false
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(f, "=== chaos: %s exited at %s: %v\n", p.name, time.Now().Format(time.RFC3339Nano), exitText(err))
		f.Close()
		p.mu.Lock()
		expected := p.stopping
		p.cmd, p.lastExit = nil, err
		p.mu.Unlock()
		if !expected {
			p.crashes.add(fmt.Sprintf("%s exited unexpectedly: %s", p.name, exitText(err)))
		}
		close(exited)
	}()
	return nil
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// running reports whether the process is running.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// signal sends sig to the running process, if any, and waits (bounded)
// for it to exit. It returns how the process exited.
func (p *proc) signal(sig syscall.Signal) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	if cmd == nil {
		p.mu.Unlock()
		return nil
	}
	p.stopping = true
	p.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	t := time.NewTimer(stopWait)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		return fmt.Errorf("%s did not exit within %v of %v", p.name, stopWait, sig)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastExit
}

// kill SIGKILLs the process and waits for it to exit.
func (p *proc) kill() error {
	err := p.signal(syscall.SIGKILL)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return nil // killed, as asked
	}
	return err
}

// stop asks the process to stop with SIGTERM and returns an error unless it
// exits with status 0 in time (it is then SIGKILLed).
func (p *proc) stop() error {
	err := p.signal(syscall.SIGTERM)
	if err != nil {
		_ = p.kill()
		return fmt.Errorf("%s on SIGTERM: %w", p.name, err)
	}
	return nil
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// Ports for the processes of a run: below Linux's default ephemeral range
// (32768-60999), so that no outgoing connection, nor a listener on port 0
// of another test running meanwhile, takes one while its process is down
// (between a kill and the restart that listens on it again).
const (
	fixedPortLo = 20000
	fixedPortHi = 32767
)

// freeAddr returns a 127.0.0.1 address with a port outside the ephemeral
// range that was free a moment ago, for a process to listen on (and to
// listen on again after a restart).
func freeAddr() (string, error) {
	var last error
	for range 200 {
		port := fixedPortLo + rand.IntN(fixedPortHi-fixedPortLo+1)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			last = err
			continue
		}
		addr := l.Addr().String()
		l.Close()
		return addr, nil
	}
	return "", fmt.Errorf("no free port in %d-%d: %w", fixedPortLo, fixedPortHi, last)
}

// waitListening waits (bounded) until something accepts connections at addr.
func waitListening(addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listening at %s after %v: %w", addr, limit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func joinLines(lines []string) string { return strings.Join(lines, "\n") }
