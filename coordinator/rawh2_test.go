package coordinator

import (
	"bytes"
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/protobuf/proto"
)

// rawConn is an HTTP/2 connection to a node driven frame by frame: it
// can start gRPC calls, ignore the node's limits, refuse to take any
// answer (a zero stream window) and ping at will. A goroutine reads the
// node's frames and counts what it sees.
type rawConn struct {
	t    testing.TB
	conn net.Conn
	fr   *http2.Framer
	wmu  sync.Mutex // guards fr's writes, enc, hbuf and next
	enc  *hpack.Encoder
	hbuf bytes.Buffer
	next uint32
	done chan struct{}

	mu       sync.Mutex
	answered int // calls whose answer began (response HEADERS)
	refused  int // calls refused (RST_STREAM REFUSED_STREAM)
	goAway   *http2.GoAwayFrame
	settings bool // the node's SETTINGS arrived: it serves the connection
}

// dialRaw connects to addr and sends the client preface and its
// settings: window is the initial stream window it grants the node.
func dialRaw(t testing.TB, addr string, window uint32) *rawConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r := &rawConn{t: t, conn: conn, fr: http2.NewFramer(conn, conn), next: 1, done: make(chan struct{})}
	r.enc = hpack.NewEncoder(&r.hbuf)
	t.Cleanup(func() {
		conn.Close()
		<-r.done
	})
	go r.read() // before the writes: a failed one ends the test, and the cleanup waits for r.done
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	if err := r.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: window}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rawConn) read() {
	defer close(r.done)
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			return
		}
		r.mu.Lock()
		switch f := f.(type) {
		case *http2.HeadersFrame:
			if !f.StreamEnded() { // a trailers-only answer is no answer
				r.answered++
			}
		case *http2.RSTStreamFrame:
			if f.ErrCode == http2.ErrCodeRefusedStream {
				r.refused++
			}
		case *http2.GoAwayFrame:
			r.goAway = f
		case *http2.SettingsFrame:
			r.settings = r.settings || !f.IsAck()
		}
		r.mu.Unlock()
	}
}

// call starts a unary call of method with req and ends its request side.
func (r *rawConn) call(method string, req proto.Message) {
	r.t.Helper()
	body, err := proto.Marshal(req)
	if err != nil {
		r.t.Fatal(err)
	}
	msg := make([]byte, 5+len(body))
	binary.BigEndian.PutUint32(msg[1:5], uint32(len(body)))
	copy(msg[5:], body)
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.hbuf.Reset()
	for _, h := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":path", method}, {":authority", r.conn.RemoteAddr().String()},
		{"content-type", "application/grpc"}, {"te", "trailers"},
	} {
		_ = r.enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]})
	}
	id := r.next
	r.next += 2
	if err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: r.hbuf.Bytes(), EndHeaders: true}); err != nil {
		r.t.Fatal(err)
	}
	if err := r.fr.WriteData(id, true, msg); err != nil {
		r.t.Fatal(err)
	}
}

// ping sends a PING frame.
func (r *rawConn) ping() error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	return r.fr.WritePing(false, [8]byte{1})
}

// counts returns the calls answered and refused so far.
func (r *rawConn) counts() (answered, refused int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.answered, r.refused
}

// gotGoAway returns the GOAWAY the node sent, if any.
func (r *rawConn) gotGoAway() *http2.GoAwayFrame {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.goAway
}

// served reports whether the node has begun serving the connection (sent
// its SETTINGS).
func (r *rawConn) served() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.settings
}
