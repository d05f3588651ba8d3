package wire

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// DefaultPort is the IANA port of NBD.
const DefaultPort = "10809"

// FormatURI returns the NBD URI of export name at address: on network
// "unix", nbd+unix:///NAME?socket=PATH; otherwise nbd://HOST:PORT/NAME.
// These are the URIs qemu, libnbd (nbdcopy, nbdinfo, fio's nbd engine) and
// DialURI accept.
func FormatURI(network, address, name string) string {
	path := "/" + url.PathEscape(name)
	if network == "unix" {
		return "nbd+unix://" + path + "?socket=" + escapeQueryValue(address)
	}
	return "nbd://" + address + path
}

// ParseURI splits an NBD URI (nbd://HOST[:PORT]/NAME,
// nbd+unix:///NAME?socket=PATH) into what Dial takes.
func ParseURI(uri string) (network, address, name string, err error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", "", "", fmt.Errorf("nbd: URI %q: %w", uri, err)
	}
	name = strings.TrimPrefix(u.Path, "/")
	switch u.Scheme {
	case "nbd":
		if u.Host == "" {
			return "", "", "", fmt.Errorf("nbd: URI %q has no host", uri)
		}
		address = u.Host
		if u.Port() == "" {
			address = net.JoinHostPort(u.Hostname(), DefaultPort)
		}
		return "tcp", address, name, nil
	case "nbd+unix":
		sock := u.Query().Get("socket")
		if sock == "" || u.Host != "" {
			return "", "", "", fmt.Errorf("nbd: URI %q: want nbd+unix:///NAME?socket=PATH", uri)
		}
		return "unix", sock, name, nil
	}
	return "", "", "", fmt.Errorf("nbd: URI %q: scheme must be nbd or nbd+unix (TLS schemes are not supported)", uri)
}

// escapeQueryValue percent-encodes everything but unreserved characters and
// '/', so that a socket path stays readable and no client reads '+' as a
// space.
func escapeQueryValue(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
