// Package hostport validates network addresses of the form host:port and
// gives each one spelling, so that an address can key a table of
// connections: "127.0.0.1:07400" and "127.0.0.1:7400" are one address, as
// are "Orders.Example:9000" and "orders.example:9000". The coordinator
// checks the participant addresses it is sent with it, and the participant
// SDK its own Address.
package hostport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// MaxLen is the longest address accepted, in bytes.
const MaxLen = 256

// ErrBadAddress is wrapped by the errors of malformed addresses.
var ErrBadAddress = errors.New("bad host:port address")

// Canonical checks that addr is host:port and returns its canonical
// spelling. The host is an IP address (IPv6 in brackets) or a DNS name:
// labels of letters, digits, '_' and '-' (no '-' at either end), at most
// 63 bytes each and 253 in all, an optional final dot, and a last label
// that is not all digits (so that a malformed IP address is not taken for
// a name). The port is a decimal number from 1 to 65535. Spaces, control
// bytes and non-ASCII characters are refused.
//
// The canonical spelling has the port without leading zeros, a name in
// lower case, and an IP address in its standard form (an IPv4-mapped IPv6
// address as IPv4).
func Canonical(addr string) (string, error) {
	if len(addr) > MaxLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrBadAddress, MaxLen)
	}
	for i := 0; i < len(addr); i++ {
		if c := addr[i]; c <= ' ' || c >= 0x7f {
			return "", fmt.Errorf("%w: %.80q holds a space, a control byte or a non-ASCII character", ErrBadAddress, addr)
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%w: %.80q is not host:port", ErrBadAddress, addr)
	}
	p, err := parsePort(port)
	if err != nil {
		return "", fmt.Errorf("%w: %.80q: %v", ErrBadAddress, addr, err)
	}
	h, err := canonicalHost(host)
	if err != nil {
		return "", fmt.Errorf("%w: %.80q: %v", ErrBadAddress, addr, err)
	}
	return net.JoinHostPort(h, strconv.Itoa(p)), nil
}

func parsePort(port string) (int, error) {
	if port == "" || strings.Trim(port, "0123456789") != "" {
		return 0, errors.New("the port must be a decimal number from 1 to 65535")
	}
	n, err := strconv.ParseUint(strings.TrimLeft(port, "0"), 10, 16)
	if err != nil || n == 0 {
		return 0, errors.New("the port must be a decimal number from 1 to 65535")
	}
	return int(n), nil
}

func canonicalHost(host string) (string, error) {
	if host == "" {
		return "", errors.New("no host")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if z := ip.Zone(); z != "" && strings.Trim(strings.ToLower(z), "abcdefghijklmnopqrstuvwxyz0123456789_.-") != "" {
			return "", fmt.Errorf("bad IPv6 zone %q", z)
		}
		if ip.Is4In6() && ip.Zone() == "" {
			ip = ip.Unmap()
		}
		return ip.String(), nil
	}
	name := strings.ToLower(host)
	labels := strings.Split(strings.TrimSuffix(name, "."), ".")
	if len(name) > 254 || len(strings.TrimSuffix(name, ".")) > 253 {
		return "", errors.New("the host name is longer than 253 bytes")
	}
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return "", err
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", fmt.Errorf("%q is neither an IP address nor a host name", host)
	}
	return name, nil
}

// checkLabel checks one label of a lower-cased DNS name.
func checkLabel(l string) error {
	switch {
	case l == "":
		return errors.New("the host name has an empty label")
	case len(l) > 63:
		return errors.New("the host name has a label longer than 63 bytes")
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Errorf("the host name label %q begins or ends with '-'", l)
	case strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789_-") != "":
		return fmt.Errorf("the host name label %q holds a character other than letters, digits, '_' and '-'", l)
	}
	return nil
}
