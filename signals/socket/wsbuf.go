package socket

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"net"
	"net/http"
)

// A WebSocket connection idles far more than it writes: it gets a frame
// now and then, a pong every PingInterval and a subscribe or two. The
// library keeps the bufio.Reader and bufio.Writer it is handed at the
// hijack for the connection's lifetime, and net/http's are 4 KiB each,
// about a third of what an idle connection costs. smallBuffers hands it
// small ones instead.
const (
	// wsReadBuffer holds what a client sends: a subscribe or a pong
	// fits in one read; a larger frame takes a few.
	wsReadBuffer = 256

	// wsWriteBuffer holds a frame header and a control frame (at most
	// 2+125 bytes unmasked); frameWriter keeps a data frame to one
	// system call however large it is.
	wsWriteBuffer = 128
)

// smallBuffers is the http.ResponseWriter websocket.Accept hijacks: it
// returns the connection with small buffers (see wsReadBuffer). The
// writer ends in a frameWriter, so that a frame too large for the small
// buffer still leaves in one system call.
type smallBuffers struct {
	http.ResponseWriter
}

// Hijack hijacks the underlying connection and swaps net/http's buffers
// for small ones. What the client sent after the handshake and net/http
// had already read is carried over into the new reader, which is sized to
// hold it.
func (s smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Whatever net/http's writer holds (nothing: the 101 response is
	// flushed before the hijack) would be lost; flush it to be sure.
	if err := brw.Flush(); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	r := bufio.NewReaderSize(conn, wsReadBuffer)
	if n := brw.Reader.Buffered(); n > 0 {
		pending, _ := brw.Peek(n)
		pending = bytes.Clone(pending)
		r = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(pending), conn), max(n, wsReadBuffer))
		// Fill the buffer from pending alone: the library reads what is
		// buffered and then reads conn directly.
		if _, err := r.Peek(n); err != nil {
			_ = conn.Close()
			return nil, nil, err
		}
	}
	w := bufio.NewWriterSize(&frameWriter{conn: netConnWriter{conn}}, wsWriteBuffer)
	return conn, bufio.NewReadWriter(r, w), nil
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s smallBuffers) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// frameWriter is what the connection's small bufio.Writer writes to. A
// frame larger than that buffer reaches it in two writes: the buffer's
// worth (the header and the payload's start), then the rest of the
// payload straight from the caller. frameWriter follows the frames in the
// bytes it is given, holds back the start of a frame whose end has not
// arrived yet, as long as it fits in head, and sends it with the rest in
// one writev. Holding back only delays bytes until the next write, which
// the writer's Flush at the end of every message brings; what does not
// fit is sent at once, so correctness never depends on how the writes are
// split, only the number of system calls does.
//
// The library calls it with its write lock held, so it needs no lock of
// its own.
type frameWriter struct {
	conn buffersWriter
	head [wsWriteBuffer]byte // the start of a frame whose end has not arrived
	n    int                 // bytes held in head
	rest int                 // bytes of a frame already partly sent still to come
	vec  [2][]byte           // writev's buffers, kept to avoid an allocation
}

// buffersWriter writes several buffers in one system call where it can.
type buffersWriter interface {
	io.Writer
	writeBuffers(bufs *net.Buffers) error
}

// netConnWriter is the buffersWriter of a connection: net.Buffers uses
// writev on a TCP or Unix connection.
type netConnWriter struct{ net.Conn }

func (c netConnWriter) writeBuffers(bufs *net.Buffers) error {
	_, err := bufs.WriteTo(c.Conn)
	return err
}

// Write sends p after what head holds, except for the end of the data
// when it is an incomplete frame that fits in head, or an incomplete
// frame header.
func (w *frameWriter) Write(p []byte) (int, error) {
	total := len(p)
	if w.rest > 0 { // the end of a frame already partly sent; w.n is 0
		k := min(w.rest, len(p))
		if _, err := w.conn.Write(p[:k]); err != nil {
			return 0, err
		}
		w.rest -= k
		if p = p[k:]; len(p) == 0 {
			return total, nil
		}
	}
	last, send, rest := split(w.head[:w.n], p)
	if w.n+len(p) <= len(w.head) {
		// Everything fits: send the complete frames, hold the last one.
		w.n += copy(w.head[w.n:], p)
		if last > 0 {
			if _, err := w.conn.Write(w.head[:last]); err != nil {
				w.n = 0
				return 0, err
			}
			w.n = copy(w.head[:], w.head[last:w.n])
		}
		return total, nil
	}
	// Too much to hold: send it all but an incomplete header at its end.
	fromP := send - w.n
	w.vec = [2][]byte{w.head[:w.n], p[:fromP]}
	bufs := net.Buffers(w.vec[:])
	if w.n == 0 {
		bufs = bufs[1:]
	}
	err := w.conn.writeBuffers(&bufs)
	w.vec = [2][]byte{}
	if err != nil {
		w.n = 0
		return 0, err
	}
	w.n = copy(w.head[:], p[fromP:])
	w.rest = rest
	return total, nil
}

// split follows the WebSocket frames of a followed by b (a is what head
// holds; it starts a frame) and returns the offset where the last,
// incomplete frame starts (the whole length when none is incomplete), how
// many bytes to send now (all but an incomplete header at the end) and
// how many bytes of the last frame are still to come after those.
func split(a, b []byte) (last, send, rest int) {
	total := len(a) + len(b)
	var hdr [maxFrameHeader]byte
	off := 0
	for off < total {
		k := copy(hdr[:], a[min(off, len(a)):])
		k += copy(hdr[k:], b[max(off-len(a), 0):])
		n, ok := frameLen(hdr[:k])
		if !ok {
			return off, off, 0 // the data ends inside a header
		}
		if n > total-off {
			return off, total, n - (total - off)
		}
		off += n
	}
	return total, total, 0
}

// maxFrameHeader is the longest WebSocket frame header: 2 bytes, an 8-byte
// length and a 4-byte mask.
const maxFrameHeader = 14

// frameLen returns the length of the frame that starts b, header
// included, or false when b is too short to tell. A length beyond any
// frame a server sends is returned as unbounded: what follows passes
// through unheld.
func frameLen(b []byte) (n int, ok bool) {
	if len(b) < 2 {
		return 0, false
	}
	hdr, size := 2, uint64(b[1]&0x7f)
	switch size {
	case 126:
		hdr = 4
		if len(b) < hdr {
			return 0, false
		}
		size = uint64(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		hdr = 10
		if len(b) < hdr {
			return 0, false
		}
		size = binary.BigEndian.Uint64(b[2:10])
	}
	if b[1]&0x80 != 0 {
		hdr += 4 // masked: never from a server, but parse it right
	}
	if size > 1<<40 {
		return math.MaxInt / 2, true
	}
	return hdr + int(size), true
}
