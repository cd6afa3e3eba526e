package capacity

import (
	"os"
	"strings"
	"testing"
)

const procStat = `cpu  157447 53 77378 181122 1952 0 11270 666 0 0
cpu0 78044 29 37929 92652 282 0 5596 340 0 0
cpu1 79402 23 39448 88470 1669 0 5674 325 0 0
intr 123 0 0
ctxt 456
`

func TestProcStat(t *testing.T) {
	a, err := ParseProcStat([]byte(procStat))
	if err != nil {
		t.Fatal(err)
	}
	want := CPUTimes{Busy: 157447 + 53 + 77378 + 11270 + 666, Total: 157447 + 53 + 77378 + 181122 + 1952 + 11270 + 666}
	if a[AllCPUs] != want || len(a) != 3 {
		t.Fatalf("%+v", a)
	}
	// cpu1 busy for 90 of 100 ticks, cpu0 for 10 of 100.
	b := map[int]CPUTimes{AllCPUs: {a[AllCPUs].Busy + 100, a[AllCPUs].Total + 200},
		0: {a[0].Busy + 10, a[0].Total + 100}, 1: {a[1].Busy + 90, a[1].Total + 100}}
	for _, c := range []struct {
		cpus []int
		want float64
	}{{nil, 50}, {[]int{1}, 90}, {[]int{0}, 10}, {[]int{0, 1}, 50}} {
		if got := CPUBusyPct(a, b, c.cpus); got != c.want {
			t.Errorf("CPUs %v: %v %%, want %v", c.cpus, got, c.want)
		}
	}
	if _, err := ParseProcStat([]byte("intr 1\n")); err == nil {
		t.Error("no cpu line taken")
	}
	// This machine's own.
	if live, err := os.ReadFile("/proc/stat"); err == nil {
		if m, err := ParseProcStat(live); err != nil || m[AllCPUs].Total == 0 {
			t.Errorf("/proc/stat: %v %+v", err, m)
		}
	}
}

const procNetUDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            
 5630: 0100007F:DF31 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1395124 2 0000000006a3115d 17      
 5631: 0100007F:DF32 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1395122 2 00000000630be915 4       
 5632: 0100007F:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 99 2 00000000630be916 1000     
`

func TestUDPDrops(t *testing.T) {
	d, n, err := UDPDrops([]byte(procNetUDP), map[uint64]bool{1395124: true, 1395122: true, 7: true})
	if err != nil || d != 21 || n != 2 {
		t.Fatalf("drops %d on %d sockets, %v", d, n, err)
	}
}

const procNetSNMP = `Ip: Forwarding DefaultTTL
Ip: 1 64
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 51290150 5347 1781 27581099 1781 0 0 0 0
UdpLite: InDatagrams NoPorts
UdpLite: 0 0
`

func TestSNMPCounters(t *testing.T) {
	c, err := SNMPCounters([]byte(procNetSNMP), "Udp")
	if err != nil || c["RcvbufErrors"] != 1781 || c["InDatagrams"] != 51290150 || len(c) != 9 {
		t.Fatalf("%v %v", c, err)
	}
	if _, err := SNMPCounters([]byte(procNetSNMP), "Tcp"); err == nil || !strings.Contains(err.Error(), "no Tcp") {
		t.Errorf("Tcp: %v", err)
	}
}
