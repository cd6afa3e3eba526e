//go:build integration

package integration

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
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

	dom := string(chromium(t, "--dump-dom", "file://"+page))
	for _, s := range []string{`data-series="transaction"`, `data-series="registration"`, `data-series="registered"`, `data-series="REGISTER/s"`, `data-code="200"`} {
		if !strings.Contains(dom, s) {
			t.Errorf("rendered DOM lacks %s", s)
		}
	}
	shot := filepath.Join(dir, "report.png")
	chromium(t, "--window-size=840,1600", "--screenshot="+shot, "file://"+page)
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
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
