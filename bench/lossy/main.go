// Command lossy is a UDP relay that loses answers: it forwards each
// client's datagrams to a SIP server from a socket of the client's own,
// and the server's answers back, but drops a share of the answers whose
// status line starts with a prefix (by default 200s: the answers whose
// loss makes a client retransmit a request the server already acted on).
// Loopback measurements only (bench/lost-answers.sh).
//
//	lossy -listen 127.0.0.1:25171 -to 127.0.0.1:25170 -drop 0.1
package main

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:25171", "address the clients send to")
	to := flag.String("to", "127.0.0.1:25170", "the server")
	drop := flag.Float64("drop", 0.1, "share of the matching answers lost")
	prefix := flag.String("prefix", "SIP/2.0 200 ", "answers whose first bytes are these may be lost")
	idle := flag.Duration("idle", 30*time.Second, "stop after this long without a datagram")
	flag.Parse()
	server, err := net.ResolveUDPAddr("udp", *to)
	check(err)
	front, err := net.ListenPacket("udp", *listen)
	check(err)
	var (
		mu      sync.Mutex
		uplinks = map[string]*net.UDPConn{}
		last    atomic.Int64
		seen    atomic.Int64
		lost    atomic.Int64
	)
	last.Store(time.Now().UnixNano())
	match := []byte(*prefix)
	back := func(up *net.UDPConn, client net.Addr, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 1))
		buf := make([]byte, 65536)
		for {
			n, err := up.Read(buf)
			if err != nil {
				return
			}
			last.Store(time.Now().UnixNano())
			if bytes.HasPrefix(buf[:n], match) {
				seen.Add(1)
				if rng.Float64() < *drop {
					lost.Add(1)
					continue
				}
			}
			_, _ = front.WriteTo(buf[:n], client)
		}
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, client, err := front.ReadFrom(buf)
			if err != nil {
				return
			}
			last.Store(time.Now().UnixNano())
			mu.Lock()
			up := uplinks[client.String()]
			if up == nil {
				up, err = net.DialUDP("udp", nil, server)
				check(err)
				uplinks[client.String()] = up
				go back(up, client, uint64(len(uplinks)))
			}
			mu.Unlock()
			_, _ = up.Write(buf[:n])
		}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-sig:
		case <-tick.C:
			if time.Since(time.Unix(0, last.Load())) < *idle {
				continue
			}
		}
		fmt.Printf("matching answers %d, lost %d\n", seen.Load(), lost.Load())
		return
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "lossy:", err)
		os.Exit(1)
	}
}
