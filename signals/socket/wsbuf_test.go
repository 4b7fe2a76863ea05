package socket

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"testing"
)

// recordConn records each write it is given; a writev is one write.
type recordConn struct {
	writes [][]byte
}

func (c *recordConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func (c *recordConn) writeBuffers(bufs *net.Buffers) error {
	c.writes = append(c.writes, bytes.Join(*bufs, nil))
	*bufs = nil
	return nil
}

// serverFrame encodes an unmasked final text frame, as the library does.
func serverFrame(payload string) []byte {
	b := []byte{0x81}
	switch n := len(payload); {
	case n <= 125:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, payload...)
}

// TestFrameWriterOneWritePerFrame writes frames the way the library does
// (header and payload into the small bufio.Writer, then Flush) and checks
// that each leaves in one write, unchanged and in order.
func TestFrameWriterOneWritePerFrame(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 1, 100, 125, 126, 200, wsWriteBuffer - 4, wsWriteBuffer, 1000, 70_000} {
		conn := &recordConn{}
		bw := bufio.NewWriterSize(&frameWriter{conn: conn}, wsWriteBuffer)
		var want [][]byte
		for i := range 3 {
			payload := strings.Repeat(string(rune('a'+i)), size)
			f := serverFrame(payload)
			want = append(want, f)
			hdr := len(f) - size
			// The library writes the header byte by byte, then the payload.
			for _, c := range f[:hdr] {
				if err := bw.WriteByte(c); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := bw.Write(f[hdr:]); err != nil {
				t.Fatal(err)
			}
			if err := bw.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if len(conn.writes) != len(want) {
			t.Errorf("payload %d: %d writes, want one per frame (%d)", size, len(conn.writes), len(want))
			continue
		}
		for i := range want {
			if !bytes.Equal(conn.writes[i], want[i]) {
				t.Errorf("payload %d: write %d differs from frame %d", size, i, i)
			}
		}
	}
}

// TestFrameWriterNeverLosesBytes feeds arbitrary splits, including ones
// that are not frames at all, and checks that what was written comes out
// unchanged and in order, followed by what is held back; data that ends on
// a frame boundary leaves nothing held.
func TestFrameWriterNeverLosesBytes(t *testing.T) {
	t.Parallel()
	frames := append(append(serverFrame(strings.Repeat("x", 300)), serverFrame("hi")...), serverFrame(strings.Repeat("y", 90))...)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"frames", frames},
		{"garbage", bytes.Repeat([]byte{0xff}, 500)},
	} {
		for step := 1; step <= len(tc.data); step += 37 {
			conn := &recordConn{}
			w := &frameWriter{conn: conn}
			for off := 0; off < len(tc.data); off += step {
				if _, err := w.Write(tc.data[off:min(off+step, len(tc.data))]); err != nil {
					t.Fatal(err)
				}
			}
			if got := bytes.Join(conn.writes, nil); !bytes.Equal(got, tc.data[:len(tc.data)-w.n]) || !bytes.Equal(w.head[:w.n], tc.data[len(tc.data)-w.n:]) {
				t.Errorf("%s, writes of %d: got %d bytes back and %d held, want %d unchanged", tc.name, step, len(got), w.n, len(tc.data))
			}
			if tc.name == "frames" && w.n != 0 {
				t.Errorf("writes of %d: %d bytes held after the last complete frame", step, w.n)
			}
		}
	}
}

func TestSplit(t *testing.T) {
	t.Parallel()
	f := serverFrame("hello")
	big := serverFrame(strings.Repeat("z", 200))
	for _, tc := range []struct {
		name             string
		a, b             []byte
		last, send, rest int
	}{
		{"empty", nil, nil, 0, 0, 0},
		{"one byte", nil, f[:1], 0, 0, 0},
		{"header only", f[:1], f[1:2], 0, 2, 5},
		{"one frame", f[:3], f[3:], len(f), len(f), 0},
		{"frame and a half", f, f[:3], len(f), len(f) + 3, 4},
		{"frame and a partial header", f, big[:3], len(f), len(f), 0},
		{"extended length, payload incomplete", big[:20], big[20:50], 0, 50, len(big) - 50},
		{"masked", nil, []byte{0x81, 0x81, 1, 2, 3, 4, 'x'}, 7, 7, 0},
	} {
		last, send, rest := split(tc.a, tc.b)
		if last != tc.last || send != tc.send || rest != tc.rest {
			t.Errorf("%s: split = %d, %d, %d, want %d, %d, %d", tc.name, last, send, rest, tc.last, tc.send, tc.rest)
		}
	}
}
