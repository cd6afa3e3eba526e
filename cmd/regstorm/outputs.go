package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// A run's outputs (--summary, --hlog, --trace, --pcap, --cpuprofile) are
// checked before anything starts (checkOutput, checkOutputsApart: exit
// 2), and created only once the run has started. One that fails while it
// is written (a full disk, /dev/full) does not lose the run: it is said
// on stderr, naming the flag and the file, and closed; the run goes on,
// every other output is still written, and the run exits 1 naming it
// (docs/cli.md).

// outputs collects the outputs that failed, for the exit status.
type outputs struct {
	mu     sync.Mutex
	stderr io.Writer
	failed []string // "--pcap /dev/full: write /dev/full: no space left on device"
	named  map[string]bool
	ended  bool // the load is over: the outputs are being closed
}

func newOutputs(stderr io.Writer) *outputs {
	return &outputs{stderr: stderr, named: map[string]bool{}}
}

// fail records that the output flag (written to path) failed with err;
// say prints it on stderr now (a sink that said it itself does not).
func (o *outputs) fail(flag, path string, err error, say bool) {
	if o == nil || err == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.named[flag] {
		return
	}
	o.named[flag] = true
	if path == "-" {
		path = "(stdout)"
	}
	msg := fmt.Sprintf("%s %s: %v", flag, path, err)
	o.failed = append(o.failed, msg)
	switch {
	case !say:
	case o.ended:
		fmt.Fprintf(o.stderr, "regstorm: %s\n", msg)
	default:
		fmt.Fprintf(o.stderr, "regstorm: %s; it is closed, nothing more is written to it, and the run goes on\n", msg)
	}
}

// end says the load is over: what fails now fails as it is closed.
func (o *outputs) end() {
	o.mu.Lock()
	o.ended = true
	o.mu.Unlock()
}

// list is what failed, in order.
func (o *outputs) list() []string {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.failed...)
}

// outFile is an output file of the run. What is written before begin is
// held in memory (a header, a profile's first bytes): a run refused or
// failing at start leaves no file behind. From begin on, the file is
// created at the first write. The first error creating or writing it
// closes it, is reported to outs (once) and is returned by every later
// Write and by Close.
type outFile struct {
	flag, path string
	outs       *outputs // nil: the writer reports its errors itself

	mu      sync.Mutex
	begun   bool
	held    bytes.Buffer
	f       *os.File
	err     error
	created bool
}

func newOutFile(flag, path string, outs *outputs) *outFile {
	return &outFile{flag: flag, path: path, outs: outs}
}

// begin lets the file be created: the run has started. What was held is
// written now.
func (w *outFile) begin() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.begun = true
	if w.held.Len() > 0 {
		b := w.held.Bytes()
		w.write(b)
		w.held = bytes.Buffer{}
	}
}

func (w *outFile) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.begun {
		return w.held.Write(p)
	}
	return w.write(p)
}

func (w *outFile) write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.f == nil {
		f, err := os.Create(w.path)
		if err != nil {
			w.failed(err)
			return 0, err
		}
		w.f, w.created = f, true
	}
	n, err := w.f.Write(p)
	if err != nil {
		w.failed(err)
	}
	return n, err
}

// failed closes the file on its first error and reports it.
func (w *outFile) failed(err error) {
	w.err = err
	if w.f != nil {
		_ = w.f.Close()
		w.f = nil
	}
	w.outs.fail(w.flag, w.path, err, true)
}

// failure is the first error met so far (nil: none).
func (w *outFile) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Close closes the file (nothing when it was never created) and returns
// the first error met writing it, or closing it.
func (w *outFile) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		if err := w.f.Close(); err != nil && w.err == nil {
			w.failed(err)
		}
		w.f = nil
	}
	return w.err
}

// checkOutput refuses an output file that could not be created, without
// creating or writing it. The file itself is created once the run has
// started (outFile), so that a run refused or failing at start leaves none
// behind.
func checkOutput(flag, p string) error {
	if p == "" {
		return nil
	}
	if fi, err := os.Stat(p); err == nil {
		if fi.IsDir() {
			return usagef("%s %s: is a directory", flag, p)
		}
		if unix.Access(p, unix.W_OK) != nil {
			return usagef("%s %s: not writable", flag, p)
		}
		return nil
	}
	dir := filepath.Dir(p)
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return usagef("%s %s: no directory %s", flag, p, dir)
	case !fi.IsDir():
		return usagef("%s %s: %s is not a directory", flag, p, dir)
	}
	if unix.Access(dir, unix.W_OK) != nil {
		return usagef("%s %s: directory %s is not writable", flag, p, dir)
	}
	return nil
}

// checkOutputsApart refuses two outputs written to one file (each would
// overwrite the other): flags and paths in pairs, "" for none. Devices
// (/dev/null) may take several.
func checkOutputsApart(pairs ...string) error {
	type seen struct {
		flag, path string
		fi         os.FileInfo
	}
	var all []seen
	for i := 0; i+1 < len(pairs); i += 2 {
		flag, p := pairs[i], pairs[i+1]
		if p == "" || p == "-" {
			continue
		}
		fi, err := os.Stat(p)
		if err == nil && !fi.Mode().IsRegular() {
			continue
		}
		abs, _ := filepath.Abs(p)
		for _, s := range all {
			sa, _ := filepath.Abs(s.path)
			if sa == abs || (fi != nil && s.fi != nil && os.SameFile(fi, s.fi)) {
				return usagef("%s %s and %s %s are one file: each would overwrite the other", s.flag, s.path, flag, p)
			}
		}
		all = append(all, seen{flag, p, fi})
	}
	return nil
}

// failedOutputs is the line saying which outputs failed ("" for none).
func failedOutputs(failed []string) string {
	if len(failed) == 0 {
		return ""
	}
	return "an output failed (the other outputs were written): " + strings.Join(failed, "; ")
}
