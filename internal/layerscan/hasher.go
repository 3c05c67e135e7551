package layerscan

import (
	"crypto/sha256"
	"hash"
)

// pipeHasher computes SHA-256 on its own goroutine, so that hashing the
// decompressed stream (the diff ID) overlaps with decompressing it: with a
// core to spare, a scan runs at the speed of the slower of the two instead
// of their sum. Write copies p into one of a few fixed buffers; memory is
// pipeBuffers × pipeBufSize whatever the stream's length.
type pipeHasher struct {
	full    chan []byte
	free    chan []byte
	done    chan struct{}
	stopped bool
	cur     []byte // being filled; sent when full
	h       hash.Hash
	sum     []byte
}

const (
	pipeBuffers = 4
	pipeBufSize = 64 << 10
)

func newPipeHasher() *pipeHasher {
	p := &pipeHasher{
		full: make(chan []byte, pipeBuffers),
		free: make(chan []byte, pipeBuffers),
		done: make(chan struct{}),
		h:    sha256.New(),
	}
	for range pipeBuffers {
		p.free <- make([]byte, pipeBufSize)
	}
	full, free, done, h := p.full, p.free, p.done, p.h
	go func() {
		defer close(done)
		for b := range full {
			h.Write(b)
			free <- b[:cap(b)]
		}
	}()
	return p
}

// Write hands a copy of b to the hashing goroutine, a full buffer at a
// time (archive/tar reads 512-byte headers one by one).
func (p *pipeHasher) Write(b []byte) {
	for len(b) > 0 {
		if p.cur == nil {
			p.cur = (<-p.free)[:0]
		}
		n := copy(p.cur[len(p.cur):cap(p.cur)], b)
		p.cur = p.cur[:len(p.cur)+n]
		b = b[n:]
		if len(p.cur) == cap(p.cur) {
			p.full <- p.cur
			p.cur = nil
		}
	}
}

// Sum waits for everything written so far to be hashed and returns the
// digest. Nothing may be written after it.
func (p *pipeHasher) Sum() []byte {
	p.stop()
	if p.sum == nil {
		p.sum = p.h.Sum(nil)
	}
	return p.sum
}

// stop ends the hashing goroutine; it is safe to call more than once.
func (p *pipeHasher) stop() {
	if !p.stopped {
		p.stopped = true
		if len(p.cur) > 0 {
			p.full <- p.cur
		}
		p.cur = nil
		close(p.full)
	}
	<-p.done
}
