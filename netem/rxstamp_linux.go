package netem

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// stampedConn reads UDP datagrams with the kernel's receive timestamp, so a
// receiver goroutine that runs late (a busy machine) does not inflate the
// measured delays.
type stampedConn struct {
	c   *net.UDPConn
	oob []byte
}

func newStampedConn(c *net.UDPConn) (*stampedConn, error) {
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
	return &stampedConn{c: c, oob: make([]byte, 128)}, nil
}

// read returns the datagram's length and its arrival time.
func (s *stampedConn) read(buf []byte) (int, time.Time, error) {
	n, oobn, _, _, err := s.c.ReadMsgUDP(buf, s.oob)
	if err != nil {
		return 0, time.Time{}, err
	}
	msgs, perr := unix.ParseSocketControlMessage(s.oob[:oobn])
	if perr == nil {
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= 16 {
				ts := *(*unix.Timespec)(unsafePointer(&m.Data[0]))
				return n, time.Unix(ts.Unix()), nil
			}
		}
	}
	return n, time.Now(), nil
}
