package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/regstorm/regstorm/metrics"
	"github.com/regstorm/regstorm/registrar"
)

// TestMain lets the test binary act as regstorm itself, so that tests can
// start real separate processes (shards) without a build step.
func TestMain(m *testing.M) {
	if os.Getenv("REGSTORM_TEST_EXEC") == "1" {
		os.Exit(run(append([]string{"regstorm"}, os.Args[1:]...), os.Stdout, os.Stderr))
	}
	// urfave/cli's --help and --version are package globals, which each
	// app.Run writes as it parses (BoolFlag.Apply): the runs in parallel
	// each apply a copy of their own.
	cli.HelpFlag = perRunFlag{cli.HelpFlag.(*cli.BoolFlag)}
	cli.VersionFlag = perRunFlag{cli.VersionFlag.(*cli.BoolFlag)}
	// The tests wait on sockets, timers and processes far more than they
	// compute: more of them run at once than -parallel's default (the
	// cores), unless -parallel is given. Not many more: the runs in this
	// process share its cores, and a run of a second or less measured on
	// a starved one misses its marks (8 did on this 2-core machine).
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		_ = flag.Set("test.parallel", "4")
	}
	os.Exit(m.Run())
}

// perRunFlag is a global bool flag applied as a copy, so that parsing
// writes nothing shared.
type perRunFlag struct{ *cli.BoolFlag }

func (f perRunFlag) Apply(set *flag.FlagSet) error {
	c := *f.BoolFlag
	return c.Apply(set)
}

func TestUsageErrorsExit2NamingTheFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "users.csv")
	os.WriteFile(bad, []byte("SEQUENTIAL\nnap1;example.com;pw\n# comment\nbad user;x;y\n"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--naps", "0"}, "--naps"},
		{[]string{"--transport", "sctp"}, "--transport"},
		{[]string{"--target", "sip:[::1"}, "--target"},
		{[]string{"--target", "sip:host:99999"}, "--target"},
		{[]string{"--sockets", "many"}, "--sockets"},
		{[]string{"--users", filepath.Join(dir, "missing.csv")}, "--users"},
		{[]string{"--users", bad}, "users.csv:4"},
		{[]string{"--user-pattern", "nap%s"}, "--user-pattern"},
		{[]string{"--local-ip", "127.0.0.300"}, "--local-ip"},
		{[]string{"--shard", "2/2"}, "--shard"},
		{[]string{"--naps", "ten"}, "naps"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"registrar", "--reject", "503"}, "--reject"},
		{[]string{"registrar", "--expires-style", "both"}, "--expires-style"},
		{[]string{"registrar", "--drop", "1.5"}, "--drop"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(append([]string{"regstorm"}, c.args...), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q (want 2 and %q)", c.args, code, errb.String(), c.want)
		}
	}
}

func TestPasswordNeverPrinted(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	code := run([]string{"regstorm", "--password", "s3cr%t-%q", "--naps", "1"}, &out, &errb)
	if code != 2 || strings.Contains(errb.String(), "s3cr") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

// The default command against the embedded registrar, as the README shows,
// in a process of its own whose environment sets --naps: every flag is
// also an env var.
func TestDefaultRunWritesTheSummary(t *testing.T) {
	t.Parallel()
	code, out, errb := runProcess(t, []string{"REGSTORM_NAPS=300"}, "--duration", "1s", "--quiet", "--summary", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var s map[string]any
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatalf("stdout is not the JSON summary: %v\n%s", err, out.String())
	}
	for _, k := range []string{"naps", "registered", "unregistered", "transport", "duration_s", "requests", "retransmissions",
		"timeouts", "auth_challenges", "responses", "latency_ms", "register_rate_per_s", "thresholds_failed"} {
		if _, ok := s[k]; !ok {
			t.Errorf("summary lacks %q", k)
		}
	}
	lat := s["latency_ms"].(map[string]any)
	for _, k := range []string{"p50", "p90", "p99", "p999", "max", "count"} {
		if _, ok := lat[k]; !ok {
			t.Errorf("latency_ms lacks %q", k)
		}
	}
	if s["naps"].(float64) != 300 || s["registered"].(float64) != 300 || s["unregistered"].(float64) != 300 {
		t.Errorf("naps %v registered %v unregistered %v", s["naps"], s["registered"], s["unregistered"])
	}
	if errb.Len() != 0 {
		t.Errorf("--quiet printed %q", errb.String())
	}
}

// In simulated time, against the embedded registrar: its bindings ask for
// the profile's expires.
func TestProfileAppliedAndOverridden(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prof := filepath.Join(dir, "p.yaml")
	os.WriteFile(prof, []byte("naps: 250\nduration: 1s\nquiet: true\nexpires: 600\n"), 0o644)
	// --naps on the command line wins over the profile's 250.
	w := newSimWorld()
	code, out, errb := w.run(t, time.Minute, "--profile", prof, "--naps", "120", "--summary", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var s map[string]any
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if s["naps"].(float64) != 120 || s["registered"].(float64) != 120 {
		t.Errorf("naps %v registered %v", s["naps"], s["registered"])
	}
	if errb.Len() != 0 {
		t.Errorf("the profile's quiet: true was not applied: %q", errb.String())
	}
	for _, s := range w.net.Sends(simEmbedded, "") {
		if s.Expires != 0 && s.Expires != 600 {
			t.Fatalf("a REGISTER asked for expires %d, not the profile's 600", s.Expires)
		}
	}
	if len(w.net.Sends(simEmbedded, "")) != 240 {
		t.Errorf("%d requests, want 120 REGISTERs and 120 un-REGISTERs", len(w.net.Sends(simEmbedded, "")))
	}
	for body, want := range map[string]string{
		"naps: 10\nnapz: 3\n": `unknown key "napz"`,
		"naps: lots\n":        `p.yaml:1: naps: "lots" is not a valid value`,
		"transport: sctp\n":   `--transport "sctp"`,
	} {
		os.WriteFile(prof, []byte(body), 0o644)
		var out, errb bytes.Buffer
		if code := run([]string{"regstorm", "--profile", prof}, &out, &errb); code != 2 || !strings.Contains(errb.String(), want) {
			t.Errorf("%q: exit %d, %q (want 2 and %q)", body, code, errb.String(), want)
		}
	}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return m
}

// Four shards as four local processes against one registrar merge to the
// same totals as one process running the whole load.
func TestShardsAsProcessesMergeToOneRun(t *testing.T) {
	t.Parallel()
	srv := startRegistrar(t, registrar.Config{})
	dir := t.TempDir()
	common := []string{"--target", "sip:" + srv.Addr, "--naps", "400", "--duration", "2s", "--quiet"}
	var procs []*exec.Cmd
	for k := 0; k < 4; k++ {
		args := append(append([]string{}, common...), "--shard", fmt.Sprintf("%d/4", k), "--hlog", filepath.Join(dir, fmt.Sprintf("shard%d.hlog", k)))
		cmd, eb := startProcess(t, args...)
		procs = append(procs, cmd)
		defer func() {
			if t.Failed() {
				t.Logf("shard stderr: %s", eb.String())
			}
		}()
	}
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			t.Fatalf("shard process: %v", err)
		}
	}
	var out, errb bytes.Buffer
	files, _ := filepath.Glob(filepath.Join(dir, "shard*.hlog"))
	if code := run(append([]string{"regstorm", "merge"}, files...), &out, &errb); code != 0 {
		t.Fatalf("merge exit %d: %s", code, errb.String())
	}
	merged := decode(t, out.Bytes())

	out.Reset()
	if code := run(append([]string{"regstorm"}, append(common, "--hlog", filepath.Join(dir, "one.hlog"), "--summary", "-")...), &out, &errb); code != 0 {
		t.Fatalf("single run exit %d: %s", code, errb.String())
	}
	one := decode(t, out.Bytes())
	for _, k := range []string{"naps", "registered", "unregistered", "requests", "timeouts"} {
		if merged[k] != one[k] {
			t.Errorf("%s: merged shards %v, one run %v", k, merged[k], one[k])
		}
	}
	if merged["naps"].(float64) != 400 || merged["registered"].(float64) != 400 {
		t.Errorf("merged %v naps, %v registered", merged["naps"], merged["registered"])
	}
	if g, _ := merged["groups"].(map[string]any)["default"].(map[string]any); g == nil || g["naps"] != merged["naps"] || g["requests"] != merged["requests"] {
		t.Errorf("merged groups %v: want default with the totals' naps and requests", merged["groups"])
	}
	mc := merged["latency_ms"].(map[string]any)["count"]
	oc := one["latency_ms"].(map[string]any)["count"]
	// latency_ms is the load: every request but the drain's un-REGISTERs.
	if mc != oc || mc.(float64) != merged["requests"].(float64)-merged["unregistered"].(float64) {
		t.Errorf("latency samples: merged %v, one run %v, requests %v, unregistered %v", mc, oc, merged["requests"], merged["unregistered"])
	}
	if fmt.Sprint(merged["responses"]) != fmt.Sprint(one["responses"]) {
		t.Errorf("responses: merged %v, one run %v", merged["responses"], one["responses"])
	}
}

// In simulated time, against the embedded registrar.
func TestFailOn(t *testing.T) {
	t.Parallel()
	code, out, errb := newSimWorld().run(t, time.Minute, "--naps", "50", "--duration", "1s", "--quiet", "--summary", "-", "--fail-on", "requests<1000000,timeouts>0")
	if code != 1 || !strings.Contains(errb.String(), "crossed: requests<1000000 (measured 100)") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	if s := decode(t, out.Bytes()); fmt.Sprint(s["thresholds_failed"]) != "[requests<1000000]" {
		t.Errorf("thresholds_failed %v", s["thresholds_failed"])
	}
	// As written, not HTML-escaped (\u003c).
	if !strings.Contains(out.String(), `"requests<1000000"`) {
		t.Errorf("thresholds_failed not written as given: %s", out.String())
	}
	if code, _, errb := newSimWorld().run(t, time.Minute, "--naps", "50", "--fail-on", "p99>>5"); code != 2 || !strings.Contains(errb.String(), "--fail-on") {
		t.Errorf("bad expression: exit %d, %q", code, errb.String())
	}
	if code, _, errb := newSimWorld().run(t, time.Minute, "--naps", "50", "--duration", "1s", "--quiet", "--fail-on", "registered<100%,timeouts>0"); code != 0 {
		t.Errorf("no threshold crossed: exit %d, %q", code, errb.String())
	}
}

func TestFlagsAfterFiles(t *testing.T) {
	t.Parallel()
	got := strings.Join(flagsFirst([]string{"regstorm", "report", "s.json", "--html", "o.html", "--title=x"}), " ")
	if got != "regstorm report --html o.html --title=x s.json" {
		t.Errorf("%s", got)
	}
	got = strings.Join(flagsFirst([]string{"regstorm", "merge", "a.hlog", "b.hlog", "--summary", "-"}), " ")
	if got != "regstorm merge --summary - a.hlog b.hlog" {
		t.Errorf("%s", got)
	}
	got = strings.Join(flagsFirst([]string{"regstorm", "--naps", "5"}), " ")
	if got != "regstorm --naps 5" {
		t.Errorf("%s", got)
	}
}

func TestReportCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	sum := filepath.Join(dir, "s.json")
	if code := run([]string{"regstorm", "--naps", "100", "--duration", "1s", "--quiet", "--summary", sum}, &out, &errb); code != 0 {
		t.Fatalf("run: %d %s", code, errb.String())
	}
	html := filepath.Join(dir, "r.html")
	if code := run([]string{"regstorm", "report", sum, "--html", html}, &out, &errb); code != 0 {
		t.Fatalf("report: %d %s", code, errb.String())
	}
	b, _ := os.ReadFile(html)
	if strings.Count(string(b), "<svg") != 6 || !strings.Contains(string(b), `data-series="transaction"`) {
		t.Errorf("report page incomplete (%d bytes)", len(b))
	}
	os.WriteFile(sum, []byte("not json"), 0o644)
	errb.Reset()
	if code := run([]string{"regstorm", "report", sum}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "not a regstorm summary") {
		t.Errorf("bad summary: %d %q", code, errb.String())
	}
}

// No output of a run contains a password: not the progress lines, the
// summary, the .hlog or the Prometheus metrics (issue 8).
func TestPasswordAppearsInNoOutput(t *testing.T) {
	t.Parallel()
	const pass = "Sup3rS3cret-pw"
	srv := startRegistrar(t, registrar.Config{Auth: true, Password: func([]byte) ([]byte, bool) { return []byte(pass), true }})
	dir := t.TempDir()
	sum, hlog := filepath.Join(dir, "s.json"), filepath.Join(dir, "r.hlog")
	metricsAddr := freeTCPAddr(t)
	scraped := make(chan string, 1)
	go func() { // scraped once every NAP is registered, while the run goes on
		var last string
		waitFor(5*time.Second, func() bool {
			resp, err := http.Get("http://" + metricsAddr + "/metrics")
			if err != nil {
				last = "scrape failed: " + err.Error()
				return false
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			return strings.Contains(last, `regstorm_registered{group="default"} 200`)
		})
		scraped <- last
	}()
	var out, errb bytes.Buffer
	code := run([]string{"regstorm", "--target", "sip:" + srv.Addr, "--naps", "200", "--password", pass, "--duration", "2s",
		"--summary", sum, "--hlog", hlog, "--metrics-addr", metricsAddr}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	metrics := <-scraped
	if !strings.Contains(metrics, `regstorm_registered{group="default"} 200`) {
		t.Fatalf("the run did not authenticate (or was not scraped): %.300s", metrics)
	}
	s, _ := os.ReadFile(sum)
	h, _ := os.ReadFile(hlog)
	if !strings.Contains(string(s), `"auth_challenges": 400`) {
		t.Errorf("expected every REGISTER and un-REGISTER to be challenged: %.200s", s)
	}
	for name, text := range map[string]string{"stdout": out.String(), "stderr (progress)": errb.String(), "summary": string(s), "hlog": string(h), "metrics": metrics} {
		if strings.Contains(text, pass) || strings.Contains(text, "Sup3rS3cret") {
			t.Errorf("the password appears in %s", name)
		}
	}
}

func freeTCPAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Without --summary, a run still ends with a short human summary on
// stderr (not with --quiet).
func TestHumanSummaryAtTheEnd(t *testing.T) {
	t.Parallel()
	const target = "127.0.0.1:5070"
	code, _, errb := newSimWorld(target).run(t, time.Minute, "--target", "sip:"+target, "--naps", "50", "--duration", "300ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "50/50 NAPs registered") || !strings.Contains(errb.String(), "p99") {
		t.Errorf("no human summary at the end: %q", errb.String())
	}
}

// No NAP registered at all is exit 1 (DESIGN §7), with the reason, even
// with --quiet.
func TestNoNAPRegisteredExits1(t *testing.T) {
	t.Parallel()
	const target = "127.0.0.1:5070"
	w := newSimWorld()
	w.net.Configure(target, registrar.Config{RejectCode: 403, RejectProb: 1})
	code, out, errb := w.run(t, time.Minute, "--target", "sip:"+target, "--naps", "20", "--duration", "300ms", "--quiet", "--summary", "-")
	if code != 1 || !strings.Contains(errb.String(), "no NAP registered") || !strings.Contains(errb.String(), "403 ×20 (e.g. nap0000") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
	if s := decode(t, out.Bytes()); s["registered"].(float64) != 0 {
		t.Errorf("registered %v", s["registered"])
	}
}

// urfave/cli takes backticked text in a usage as the value's placeholder:
// only single words are meant as one (`--hlog FILE`, not `--hlog regstorm merge`).
func TestHelpPlaceholders(t *testing.T) {
	t.Parallel()
	app := newApp(realWorld(), io.Discard, io.Discard)
	flags := app.Flags
	for _, c := range app.Commands {
		flags = append(flags, c.Flags...)
	}
	for _, f := range flags {
		u := f.(interface{ GetUsage() string }).GetUsage()
		if i := strings.IndexByte(u, '`'); i >= 0 {
			j := strings.IndexByte(u[i+1:], '`')
			if j < 0 || strings.ContainsAny(u[i+1:i+1+j], " \t") {
				t.Errorf("--%s: backticks in %q make a bad placeholder", f.Names()[0], u)
			}
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"regstorm", "--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "--hlog FILE") {
		t.Errorf("--help: exit %d: %s", code, out.String())
	}
}

func TestHelpCommandAndVersion(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := run([]string{"regstorm", "help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "USAGE") {
		t.Errorf("help: exit %d, %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := run([]string{"regstorm", "help", "merge"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "regstorm merge") {
		t.Errorf("help merge: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"regstorm", "--version"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "regstorm") || !strings.Contains(out.String(), runtime.Version()) {
		t.Errorf("--version: exit %d, %q %q", code, out.String(), errb.String())
	}
}

// writeHlog writes a small .hlog with a summary line, as a shard's run does.
func writeHlog(t *testing.T, path string, naps int) {
	t.Helper()
	var b bytes.Buffer
	start := time.Now()
	l, err := metrics.NewHlog(&b, start)
	if err != nil {
		t.Fatal(err)
	}
	h := metrics.NewHistogram()
	metrics.Latency(h, time.Duration(naps)*time.Millisecond)
	if err := l.Interval(h, start, start.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := l.Summary(&metrics.Summary{NAPs: naps, Registered: int64(naps), Requests: int64(naps), Responses: map[string]int64{"200": int64(naps)}}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A shard given twice would count its NAPs twice: the same path, the same
// file by another name, or a copy of it.
func TestMergeRefusesTheSameShardTwice(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.hlog"), filepath.Join(dir, "b.hlog")
	writeHlog(t, a, 10)
	writeHlog(t, b, 20)
	cp := filepath.Join(dir, "copy.hlog")
	data, _ := os.ReadFile(a)
	os.WriteFile(cp, data, 0o644)
	link := filepath.Join(dir, "link.hlog")
	if err := os.Link(a, link); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"regstorm", "merge", a, b}, &out, &errb); code != 0 || decode(t, out.Bytes())["naps"].(float64) != 30 {
		t.Fatalf("a + b: exit %d, %s %s", code, out.String(), errb.String())
	}
	for _, files := range [][]string{{a, a}, {a, b, dir + "/./a.hlog"}, {a, link}, {a, cp}, {filepath.Join(dir, "*.hlog")}} {
		out.Reset()
		errb.Reset()
		code := run(append([]string{"regstorm", "merge"}, files...), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), "twice") || out.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", files, code, out.String(), errb.String())
		}
	}
}

// report takes a regstorm summary, not any JSON.
func TestReportRefusesWhatIsNotASummary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	html := filepath.Join(dir, "r.html")
	for _, body := range []string{"{}", "[]", `{"naps": 3}`, `{"naps": 3, "requests": 5, "registered": 3, "responses": {}}`, "null"} {
		f := filepath.Join(dir, "s.json")
		os.WriteFile(f, []byte(body), 0o644)
		var out, errb bytes.Buffer
		if code := run([]string{"regstorm", "report", f, "--html", html}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "not a regstorm summary") {
			t.Errorf("%s: exit %d, %q", body, code, errb.String())
		}
		if _, err := os.Stat(html); err == nil {
			t.Fatalf("%s: the page was written", body)
		}
	}
}
