// Command gvisor_peer is a test peer for tests/interop/gvisor_tcp_test.ts: wireguard-go's
// device on a UDP socket with gVisor's netstack (golang.zx2c4.com/wireguard/tun/netstack)
// as its TUN, so the TCP it speaks is the one the Go Tela binaries run, with no kernel TCP
// in between. It is a test peer only; Tela itself is not Go.
//
// It makes one TCP connection, as server (-mode server: listens on -address:-tcp-port and
// accepts one connection) or as client (-mode client: after a line on stdin, dials
// -connect). On the connection both directions run at once: it writes -send bytes of a
// ChaCha8 stream seeded by -seed, then half-closes (FIN), while it reads until the peer's
// FIN, hashing what arrives. It reports on stdout as JSON lines:
//
//	{"event":"ready","listenPort":N}       WireGuard is up (and, as server, listening)
//	{"event":"connected","local":"..","remote":".."}
//	{"event":"done","sent":N,"sentSha256":"..","received":M,"receivedSha256":"..",
//	 "sendSeconds":s,"receiveSeconds":s}
//	{"event":"error","error":".."}         then exits with status 1
//
// After "done" it stays up (so a retransmitted FIN is still answered) until stdin closes.
// Keys are 64 hex digits (the UAPI form). Every wait is bounded by -timeout.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/netstack"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
)

var stdoutMu sync.Mutex

func emit(v map[string]any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

func fail(format string, args ...any) {
	emit(map[string]any{"event": "error", "error": fmt.Sprintf(format, args...)})
	os.Exit(1)
}

func main() {
	privateKey := flag.String("private-key", "", "our private key, 64 hex digits")
	peerPublicKey := flag.String("peer-public-key", "", "the peer's public key, 64 hex digits")
	listenPort := flag.Int("listen-port", 0, "WireGuard UDP port (0: ephemeral, reported in ready)")
	peerEndpoint := flag.String("peer-endpoint", "", "the peer's UDP endpoint, e.g. 127.0.0.1:51820")
	allowedIP := flag.String("allowed-ip", "", "the peer's allowed IPs, e.g. 10.77.0.1/32")
	address := flag.String("address", "", "our tunnel IPv4 address")
	mtu := flag.Int("mtu", 1100, "tunnel MTU")
	mode := flag.String("mode", "", "server or client")
	tcpPort := flag.Int("tcp-port", 0, "server: TCP port to listen on")
	connect := flag.String("connect", "", "client: TCP address to dial, ip:port")
	sendBytes := flag.Int64("send", 16<<20, "bytes to send before half-closing")
	seed := flag.Uint64("seed", 1, "seed of the ChaCha8 stream we send")
	timeout := flag.Duration("timeout", 5*time.Minute, "deadline for the whole run")
	verbose := flag.Bool("verbose", false, "wireguard-go verbose log on stderr")
	flag.Parse()

	if len(*privateKey) != 64 || len(*peerPublicKey) != 64 {
		fail("-private-key and -peer-public-key must be 64 hex digits")
	}
	if *mode != "server" && *mode != "client" {
		fail("-mode must be server or client, not %q", *mode)
	}
	addr, err := netip.ParseAddr(*address)
	if err != nil {
		fail("-address: %v", err)
	}
	stdin := bufio.NewReader(os.Stdin)
	deadline := time.Now().Add(*timeout)
	time.AfterFunc(*timeout, func() { fail("timed out after %v", *timeout) })

	tunDev, tnet, err := netstack.CreateNetTUN([]netip.Addr{addr}, nil, *mtu)
	if err != nil {
		fail("CreateNetTUN: %v", err)
	}
	level := device.LogLevelError
	if *verbose {
		level = device.LogLevelVerbose
	}
	dev := device.NewDevice(tunDev, conn.NewDefaultBind(), device.NewLogger(level, "wg: "))
	defer dev.Close()
	uapi := fmt.Sprintf("private_key=%s\nlisten_port=%d\npublic_key=%s\nallowed_ip=%s\n",
		*privateKey, *listenPort, *peerPublicKey, *allowedIP)
	if *peerEndpoint != "" {
		uapi += "endpoint=" + *peerEndpoint + "\n"
	}
	if err := dev.IpcSet(uapi); err != nil {
		fail("IpcSet: %v", err)
	}
	if err := dev.Up(); err != nil {
		fail("device up: %v", err)
	}
	port, err := boundPort(dev)
	if err != nil {
		fail("%v", err)
	}

	var c *gonet.TCPConn
	switch *mode {
	case "server":
		l, err := tnet.ListenTCPAddrPort(netip.AddrPortFrom(addr, uint16(*tcpPort)))
		if err != nil {
			fail("listen: %v", err)
		}
		emit(map[string]any{"event": "ready", "listenPort": port})
		nc, err := l.Accept()
		if err != nil {
			fail("accept: %v", err)
		}
		l.Close()
		c = nc.(*gonet.TCPConn)
	case "client":
		target, err := netip.ParseAddrPort(*connect)
		if err != nil {
			fail("-connect: %v", err)
		}
		emit(map[string]any{"event": "ready", "listenPort": port})
		// The test adds us as its peer once it knows our port, then says go.
		if _, err := stdin.ReadString('\n'); err != nil {
			fail("waiting for the go-ahead on stdin: %v", err)
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		c, err = tnet.DialContextTCPAddrPort(ctx, target)
		cancel()
		if err != nil {
			fail("dial %v: %v", target, err)
		}
	}
	c.SetDeadline(deadline)
	emit(map[string]any{
		"event": "connected", "local": c.LocalAddr().String(), "remote": c.RemoteAddr().String(),
	})
	exchange(c, *sendBytes, *seed)
	// Stay up (answering retransmitted FINs, ACKing) until the test closes our stdin.
	stdin.ReadString('\n')
}

// boundPort reads the UDP port the device listens on back through UAPI.
func boundPort(dev *device.Device) (int, error) {
	state, err := dev.IpcGet()
	if err != nil {
		return 0, fmt.Errorf("IpcGet: %v", err)
	}
	for _, line := range strings.Split(state, "\n") {
		if v, ok := strings.CutPrefix(line, "listen_port="); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, errors.New("IpcGet: no listen_port")
}

type result struct {
	n       int64
	sum     string
	seconds float64
	err     error
}

// exchange sends n bytes then FIN while reading to EOF, and reports both hashes.
func exchange(c *gonet.TCPConn, n int64, seed uint64) {
	start := time.Now()
	sent := make(chan result, 1)
	go func() {
		h := sha256.New()
		rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16),
			byte(seed >> 24), byte(seed >> 32), byte(seed >> 40), byte(seed >> 48), byte(seed >> 56)})
		buf := make([]byte, 64<<10)
		var total int64
		for total < n {
			chunk := buf[:min(int64(len(buf)), n-total)]
			rng.Read(chunk)
			h.Write(chunk)
			w, err := c.Write(chunk)
			total += int64(w)
			if err != nil {
				sent <- result{n: total, err: fmt.Errorf("write after %d bytes: %v", total, err)}
				return
			}
		}
		if err := c.CloseWrite(); err != nil {
			sent <- result{n: total, err: fmt.Errorf("CloseWrite: %v", err)}
			return
		}
		sent <- result{n: total, sum: hex.EncodeToString(h.Sum(nil)),
			seconds: time.Since(start).Seconds()}
	}()
	h := sha256.New()
	got, rerr := io.CopyBuffer(h, c, make([]byte, 64<<10))
	recv := result{n: got, sum: hex.EncodeToString(h.Sum(nil)),
		seconds: time.Since(start).Seconds()}
	if rerr != nil {
		recv.err = fmt.Errorf("read after %d bytes: %v", got, rerr)
	}
	s := <-sent
	if s.err != nil || recv.err != nil {
		fail("%v", errors.Join(s.err, recv.err))
	}
	emit(map[string]any{
		"event": "done", "sent": s.n, "sentSha256": s.sum, "received": recv.n,
		"receivedSha256": recv.sum, "sendSeconds": s.seconds, "receiveSeconds": recv.seconds,
	})
	c.Close()
}
