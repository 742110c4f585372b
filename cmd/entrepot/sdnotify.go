package main

import "net"

// sdNotify tells the service manager about the server's state ("READY=1",
// "STOPPING=1") on socket, the NOTIFY_SOCKET a systemd Type=notify unit
// is given; with none (not under systemd) it does nothing. It is the whole protocol: one
// datagram on a unix socket ("@" naming an abstract one). A failure is
// only returned: systemd then times the start out and says why.
func sdNotify(socket, state string) error {
	path := socket
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
