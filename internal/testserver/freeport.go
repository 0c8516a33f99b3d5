package testserver

import "net"

// FreeAddr returns a loopback host:port nobody listens on at the moment.
// Another process may take it before the caller binds it, so callers
// retry a failed start with a new address.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
