package rtio

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// StampedConn reads UDP datagrams with the kernel's receive timestamp, so a
// receiver goroutine that runs late (a busy machine) does not inflate the
// measured delays.
type StampedConn struct {
	c   *net.UDPConn
	oob []byte
}

func NewStampedConn(c *net.UDPConn) (*StampedConn, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		if serr == nil {
			// Root may exceed net.core.rmem_max; ignore failure.
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20)
		}
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, serr
	}
	return &StampedConn{c: c, oob: make([]byte, 128)}, nil
}

// read returns the datagram's length and its arrival time. It does not
// allocate: garbage collection pauses would stall the forwarding threads
// being measured.
func (s *StampedConn) Read(buf []byte) (int, time.Time, error) {
	n, oobn, _, _, err := s.c.ReadMsgUDPAddrPort(buf, s.oob)
	if err != nil {
		return 0, time.Time{}, err
	}
	oob := s.oob[:oobn]
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafePointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			break
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_TIMESTAMPNS && l >= unix.CmsgLen(16) {
			ts := (*unix.Timespec)(unsafePointer(&oob[unix.CmsgLen(0)]))
			return n, time.Unix(ts.Unix()), nil
		}
		next := unix.CmsgSpace(l - unix.CmsgLen(0))
		if next > len(oob) {
			break
		}
		oob = oob[next:]
	}
	return n, time.Now(), nil
}
