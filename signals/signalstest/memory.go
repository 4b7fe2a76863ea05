package signalstest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/heraldhq/herald/signals"
)

// MemoryNetwork is an in-process backend for signals.Transport: every
// transport opened on one network reaches every subscription of that
// network. It lets a host test several Herald instances in one process, and
// it is the reference the conformance suite is checked against.
//
// A MemoryNetwork is safe for concurrent use; its zero value is not usable,
// call NewMemoryNetwork.
type MemoryNetwork struct {
	mu   sync.Mutex
	subs map[*memorySub]struct{}
}

// NewMemoryNetwork returns an empty network.
func NewMemoryNetwork() *MemoryNetwork {
	return &MemoryNetwork{subs: make(map[*memorySub]struct{})}
}

// Transport opens a transport on n. Sends are delivered asynchronously,
// each subscription on its own goroutine, in send order.
func (n *MemoryNetwork) Transport() *MemoryTransport {
	return &MemoryTransport{net: n, subs: make(map[*memorySub]struct{})}
}

// Interrupt makes every current subscription report a gap with cause err,
// as a real transport does after its connection came back.
func (n *MemoryNetwork) Interrupt(err error) {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	for s := range n.subs {
		s.push(event{gap: &signals.Gap{Since: now, Until: now, Err: err}})
	}
}

// MemoryTransport is a signals.Transport on a MemoryNetwork.
type MemoryTransport struct {
	net *MemoryNetwork

	mu     sync.Mutex
	closed bool
	subs   map[*memorySub]struct{}
}

var _ signals.Transport = (*MemoryTransport)(nil)

// Send delivers a copy of msg to every subscription of the network.
func (t *MemoryTransport) Send(ctx context.Context, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return signals.ErrClosed
	}
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	for s := range t.net.subs {
		s.push(event{msg: append([]byte(nil), msg...)})
	}
	return nil
}

// Subscribe registers h with the network.
func (t *MemoryTransport) Subscribe(ctx context.Context, h signals.TransportHandler) (signals.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &memorySub{t: t, h: h, wake: make(chan struct{}, 1), done: make(chan struct{})}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, signals.ErrClosed
	}
	t.subs[s] = struct{}{}
	t.mu.Unlock()
	t.net.mu.Lock()
	t.net.subs[s] = struct{}{}
	t.net.mu.Unlock()
	go s.run()
	return s, nil
}

// Close ends the transport's subscriptions.
func (t *MemoryTransport) Close() error {
	t.mu.Lock()
	t.closed = true
	subs := t.subs
	t.subs = map[*memorySub]struct{}{}
	t.mu.Unlock()
	var errs []error
	for s := range subs {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

type event struct {
	msg []byte
	gap *signals.Gap
}

type memorySub struct {
	t    *MemoryTransport
	h    signals.TransportHandler
	wake chan struct{} // cap 1
	done chan struct{}

	mu      sync.Mutex
	queue   []event
	stopped bool
	once    sync.Once
}

func (s *memorySub) push(e event) {
	s.mu.Lock()
	s.queue = append(s.queue, e)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *memorySub) run() {
	defer close(s.done)
	for range s.wake {
		for {
			s.mu.Lock()
			if s.stopped {
				s.mu.Unlock()
				return
			}
			if len(s.queue) == 0 {
				s.mu.Unlock()
				break
			}
			e := s.queue[0]
			s.queue = s.queue[1:]
			s.mu.Unlock()
			if e.gap != nil {
				s.h.HandleGap(*e.gap)
			} else {
				s.h.HandleMessage(e.msg)
			}
		}
	}
}

func (s *memorySub) Close() error {
	s.once.Do(func() {
		s.t.net.mu.Lock()
		delete(s.t.net.subs, s)
		s.t.net.mu.Unlock()
		s.t.mu.Lock()
		delete(s.t.subs, s)
		s.t.mu.Unlock()
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
		<-s.done
	})
	return nil
}
