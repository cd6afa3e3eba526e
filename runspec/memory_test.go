package runspec

import (
	"errors"
	"strings"
	"testing"
)

func TestMemoryEstimate(t *testing.T) {
	const gib = 1 << 30
	// 10^7 NAPs on shared UDP sockets, the embedded registrar too, fit in
	// this machine's 24 GiB; 10^10 fit nowhere.
	if err := checkMemory(10_000_000, memoryUse{embedded: true}, 23*gib, "MemAvailable"); err != nil {
		t.Errorf("10^7 refused: %v", err)
	}
	if err := checkMemory(10_000_000_000, memoryUse{}, 23*gib, "MemAvailable"); err == nil || !strings.Contains(err.Error(), "--naps") {
		t.Errorf("10^10: %v", err)
	}
	// A socket per NAP costs more than a shared one.
	if shared, own := memoryNeeded(1e6, memoryUse{}), memoryNeeded(1e6, memoryUse{ownSocket: true}); own <= shared {
		t.Errorf("per-nap %d <= shared %d", own, shared)
	}
	if err := checkMemory(1_000_000, memoryUse{ownSocket: true, tcp: true, embedded: true}, gib, "cgroup"); err == nil || !strings.Contains(err.Error(), "cgroup") {
		t.Errorf("10^6 TCP per-nap in 1 GiB: %v", err)
	}
	// A TLS connection per NAP costs its goroutine and crypto state on
	// both sides: 10^6 of them do not fit in 24 GiB with the embedded
	// registrar, where 10^6 TCP ones do.
	if tcp, tls := memoryNeeded(1e6, memoryUse{ownSocket: true, tcp: true, embedded: true}),
		memoryNeeded(1e6, memoryUse{ownSocket: true, tcp: true, goroutine: true, embedded: true}); tls < tcp+40e9 {
		t.Errorf("TLS per-nap %d, TCP %d: want ~48 KiB more per NAP", tls, tcp)
	}
	if err := checkMemory(1_000_000, memoryUse{ownSocket: true, tcp: true, goroutine: true, embedded: true}, 23*gib, "MemAvailable"); err == nil {
		t.Error("10^6 per-nap TLS NAPs and their registrar accepted in 23 GiB")
	}
	// Unknown memory (no /proc): no refusal.
	if err := checkMemory(10_000_000_000, memoryUse{}, 0, ""); err != nil {
		t.Errorf("unknown memory: %v", err)
	}
}

func TestAvailableMemory(t *testing.T) {
	files := map[string]string{
		"/proc/meminfo":     "MemTotal:       24731708 kB\nMemFree:        22659832 kB\nMemAvailable:   24364288 kB\n",
		"/proc/self/cgroup": "4:memory:/job\n0::/job\n",
	}
	read := func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, errors.New("no such file")
	}
	if n, from := availableMemory(read); n != 24364288*1024 || !strings.Contains(from, "MemAvailable") {
		t.Errorf("no cgroup limit: %d from %s", n, from)
	}
	files["/sys/fs/cgroup/memory/job/memory.limit_in_bytes"] = "9223372036854771712\n" // v1: no limit
	files["/sys/fs/cgroup/job/memory.max"] = "max\n"                                   // v2: no limit
	if n, _ := availableMemory(read); n != 24364288*1024 {
		t.Errorf("unlimited cgroups: %d", n)
	}
	files["/sys/fs/cgroup/memory/job/memory.limit_in_bytes"] = "4294967296\n"
	if n, from := availableMemory(read); n != 4<<30 || !strings.Contains(from, "cgroup") {
		t.Errorf("v1 limit: %d from %s", n, from)
	}
	files["/sys/fs/cgroup/job/memory.max"] = "2147483648\n"
	if n, _ := availableMemory(read); n != 2<<30 {
		t.Errorf("v2 limit below v1's: %d", n)
	}
	// A namespaced cgroup: the controller's root is the process's own.
	delete(files, "/sys/fs/cgroup/job/memory.max")
	delete(files, "/sys/fs/cgroup/memory/job/memory.limit_in_bytes")
	files["/sys/fs/cgroup/memory.max"] = "1073741824\n"
	if n, _ := availableMemory(read); n != 1<<30 {
		t.Errorf("namespaced v2 limit: %d", n)
	}
}
