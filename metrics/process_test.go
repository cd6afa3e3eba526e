package metrics

import (
	"os"
	"runtime"
	"testing"
)

func TestSampleProcessSeesThisProcess(t *testing.T) {
	before := SampleProcess()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	done := make(chan struct{})
	defer close(done)
	go func() { <-done }()
	after := SampleProcess()
	if after.HeapBytes == 0 || after.RSSBytes == 0 {
		t.Fatalf("heap %d rss %d: want both > 0", after.HeapBytes, after.RSSBytes)
	}
	runtime.GC()
	if gc := SampleProcess(); gc.GCCycles < after.GCCycles+1 {
		t.Errorf("gc cycles %d after runtime.GC, was %d", gc.GCCycles, after.GCCycles)
	}
	if after.OpenFDs != before.OpenFDs+1 {
		t.Errorf("open fds %d after opening one, was %d", after.OpenFDs, before.OpenFDs)
	}
	if after.Goroutines < before.Goroutines+1 {
		t.Errorf("goroutines %d after starting one, was %d", after.Goroutines, before.Goroutines)
	}
}

// Counting 2 000 descriptors gives what Readdirnames gives, and allocates
// nothing per descriptor (it made a string of each, once a second).
func TestOpenFDsCountsWithoutGarbage(t *testing.T) {
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for range 1000 {
		r, w, err := os.Pipe()
		if err != nil {
			t.Skip(err)
		}
		files = append(files, r, w)
	}
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	if got, want := openFDs(), len(names)-1; got != want {
		t.Fatalf("openFDs %d, Readdirnames %d", got, want)
	}
	if allocs := testing.AllocsPerRun(10, func() { _ = openFDs() }); allocs > 2 {
		t.Errorf("%.0f allocations to count %d descriptors", allocs, len(names))
	}
}
