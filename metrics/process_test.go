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
