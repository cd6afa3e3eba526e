//go:build integration

package integration

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regstorm/regstorm/engine"
	"github.com/regstorm/regstorm/registrar"
	"github.com/regstorm/regstorm/report"
	"github.com/regstorm/regstorm/sipwire"
)

// chromium runs Debian's headless Chromium with the flags this closed
// network needs (no background fetches).
func chromium(t *testing.T, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not installed (apt-get install chromium): %v", err)
	}
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--hide-scrollbars"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(base, args...)...).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return out
}

// The HTML report of a real run renders in a browser: a non-blank
// screenshot, and the rendered DOM holds every chart's series.
func TestReportRendersInChromium(t *testing.T) {
	srv, err := registrar.Listen(registrar.New(registrar.Config{}), "127.0.0.1", 0, []string{"udp"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	o := options(srv.Addr, 2000, sipwire.UDP)
	o.Duration, o.Rate = 3*time.Second, 1000
	res, err := engine.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	f, _ := os.Create(page)
	if err := report.WriteHTML(f, res.Summary, "integration run"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	checkRendered(t, page)
}

// checkRendered opens the report page in Chromium: the rendered DOM has
// every chart's series drawn (lines, not empty paths), no figure reads
// as a measured 0 ms, and a screenshot is not blank.
func checkRendered(t *testing.T, page string) {
	t.Helper()
	dom := string(chromium(t, "--dump-dom", "file://"+page))
	for _, s := range []string{"transaction", "registration", "registered", "REGISTER/s", "p50", "p99", "retransmissions"} {
		if !regexp.MustCompile(`data-series="` + regexp.QuoteMeta(s) + `" d="M[0-9.]+,[0-9.]+ L`).MatchString(dom) {
			t.Errorf("rendered DOM: series %q not drawn", s)
		}
	}
	if !strings.Contains(dom, `data-code="200"`) {
		t.Error("rendered DOM: no 200 bar")
	}
	if strings.Contains(dom, ">0.000 ms") {
		t.Error("rendered DOM: a figure reads 0.000 ms")
	}
	dir := t.TempDir()
	shot := filepath.Join(dir, "report.png")
	chromium(t, "--window-size=840,2400", "--screenshot="+shot, "file://"+page)
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	if keep := os.Getenv("REGSTORM_KEEP_SCREENSHOTS"); keep != "" {
		_ = os.WriteFile(filepath.Join(keep, t.Name()+".png"), b, 0o644)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	// Not blank: count pixels that are neither white nor near-white.
	ink := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 2 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r < 0xd000 || g < 0xd000 || bl < 0xd000 {
				ink++
			}
		}
	}
	if ink < 2000 {
		t.Errorf("screenshot looks blank: %d inked pixels", ink)
	}
}

// The last steps of a distributed run: two shards with --start-at and
// --hlog, merged, then the report: the merged page has every chart drawn
// and no empty figure, as a single run's.
func TestMergedReportRendersInChromium(t *testing.T) {
	srv, err := registrar.Listen(registrar.New(registrar.Config{Drop: 0.02}), "127.0.0.1", 0, []string{"udp"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	bin := regstormBinary(t)
	startAt := strconv.FormatInt(time.Now().Add(2*time.Second).Unix(), 10)
	var shards []*exec.Cmd
	for k := range 2 {
		cmd := exec.Command(bin, "--target", "sip:"+srv.Addr, "--naps", "2000", "--rate", "1000", "--duration", "4s", "--quiet",
			"--t1", "100ms", "--shard", fmt.Sprintf("%d/2", k), "--start-at", startAt, "--hlog", filepath.Join(dir, fmt.Sprintf("s%d.hlog", k)))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		shards = append(shards, cmd)
	}
	for _, c := range shards {
		if err := c.Wait(); err != nil {
			t.Fatalf("shard: %v", err)
		}
	}
	m := filepath.Join(dir, "m.json")
	if out, err := exec.Command(bin, "merge", filepath.Join(dir, "s0.hlog"), filepath.Join(dir, "s1.hlog"), "--summary", m).CombinedOutput(); err != nil {
		t.Fatalf("merge: %v\n%s", err, out)
	}
	page := filepath.Join(dir, "merged.html")
	if out, err := exec.Command(bin, "report", m, "--html", page).CombinedOutput(); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	checkRendered(t, page)
}
