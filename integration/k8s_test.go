//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The Kubernetes path without a cluster (issue 19). There is no cluster
// here (no Docker engine either), so this test stands in for one: it reads
// deploy/k8s/regstorm.yaml and deploy/k8s/merge/merge.yaml and runs what
// their containers would run, as Kubernetes would start them, with local
// processes. It cannot drift from the manifests: a flag, a variable or a
// path changed there is what runs here.
//
// As Kubernetes does, for shard pod k of the Indexed Job (N = completions):
//   - the container's environment is its envFrom ConfigMap, then its env
//     (env wins), then JOB_COMPLETION_INDEX=k, which the Job controller
//     adds; a fieldRef to the annotation
//     batch.kubernetes.io/job-completion-index is k; a configMapKeyRef is
//     read from the ConfigMap; an env value's $(VAR) is expanded with the
//     variables before it, and the args' $(VAR) with all of them ($$ is $);
//   - the args follow the image's ENTRYPOINT (the Dockerfile's, /regstorm:
//     the binary built from ../cmd/regstorm).
//
// What is not as in a cluster, and why:
//   - The ConfigMap regstorm-run is the test's, as README.md's step 3 makes
//     the user's: the target is a `regstorm registrar` process this test
//     starts on loopback (127.0.0.1, a free port), 400 NAPs at 800/s for
//     3 s, and a start time 4 s ahead (Unix seconds, as `date +%s` gives).
//   - The results volume's mountPath (/results) is a temporary directory:
//     every arg or variable under it is moved there.
//   - REGSTORM_METRICS_ADDR (":9090", each pod on its own IP) is
//     127.0.0.1 and a free port per process: here they share one address.
//   - The processes run without the pod's security context (non-root, a
//     read-only root filesystem): a test of the image would need a
//     container runtime. regstorm writes only to the results volume.
//
// Then, as README.md's steps 5 and 6: wait for every shard to exit 0
// (kubectl wait --for=condition=complete), run the merge container's args
// as written, and check the merged totals against one process running the
// same load alone, against the same registrar. While the shards run, each
// one's /metrics is scraped: every series carries its shard label, and
// every metric that grafana-dashboard.json queries (and every label it
// sums by) is in the scrape.

type k8sEnv struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		FieldRef *struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
		ConfigMapKeyRef *struct {
			Name     string `yaml:"name"`
			Key      string `yaml:"key"`
			Optional bool   `yaml:"optional"`
		} `yaml:"configMapKeyRef"`
	} `yaml:"valueFrom"`
}

type k8sContainer struct {
	Name    string   `yaml:"name"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	// TerminationMessagePath: the file the kubelet makes the container's
	// termination message of (default /dev/termination-log).
	TerminationMessagePath string   `yaml:"terminationMessagePath"`
	Env                    []k8sEnv `yaml:"env"`
	EnvFrom                []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
	} `yaml:"envFrom"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		CompletionMode string `yaml:"completionMode"`
		Completions    int    `yaml:"completions"`
		Parallelism    int    `yaml:"parallelism"`
		Template       struct {
			Spec struct {
				Containers []k8sContainer `yaml:"containers"`
				Volumes    []struct {
					Name                  string `yaml:"name"`
					PersistentVolumeClaim *struct {
						ClaimName string `yaml:"claimName"`
					} `yaml:"persistentVolumeClaim"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// readJob finds the Job named name in a manifest file.
func readJob(t *testing.T, file, name string) *k8sObject {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var o k8sObject
		if err := dec.Decode(&o); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if o.Kind == "Job" && o.Metadata.Name == name {
			return &o
		}
	}
	t.Fatalf("%s: no Job %s", file, name)
	return nil
}

// container is the Job's container named name, and the claim its volume
// mounted at mountPath reads.
func (o *k8sObject) container(t *testing.T, name string) (c *k8sContainer, mountPath, claim string) {
	t.Helper()
	for i := range o.Spec.Template.Spec.Containers {
		if c = &o.Spec.Template.Spec.Containers[i]; c.Name == name {
			for _, m := range c.VolumeMounts {
				for _, v := range o.Spec.Template.Spec.Volumes {
					if v.Name == m.Name && v.PersistentVolumeClaim != nil {
						return c, m.MountPath, v.PersistentVolumeClaim.ClaimName
					}
				}
			}
			t.Fatalf("Job %s: container %s mounts no claim", o.Metadata.Name, name)
		}
	}
	t.Fatalf("Job %s: no container %s", o.Metadata.Name, name)
	return nil, "", ""
}

var k8sVarRE = regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)`)

// k8sExpand expands $(VAR) as Kubernetes does: a known variable is
// replaced, an unknown reference is left as written, $$ is $.
func k8sExpand(s string, vars map[string]string) string {
	return k8sVarRE.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		if v, ok := vars[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// podEnv is container c's environment in Indexed Job pod k, with the
// ConfigMaps given, as the kubelet makes it.
func podEnv(t *testing.T, c *k8sContainer, k int, configMaps map[string]map[string]string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			t.Fatalf("envFrom other than a ConfigMap: the test does not know it")
		}
		cm, ok := configMaps[ef.ConfigMapRef.Name]
		if !ok {
			t.Fatalf("envFrom ConfigMap %s: the test does not make it (README.md does?)", ef.ConfigMapRef.Name)
		}
		for key, v := range cm {
			vars[key] = v
		}
	}
	env := append([]k8sEnv(nil), c.Env...)
	if !slices.ContainsFunc(env, func(e k8sEnv) bool { return e.Name == "JOB_COMPLETION_INDEX" }) {
		env = append(env, k8sEnv{Name: "JOB_COMPLETION_INDEX", Value: strconv.Itoa(k)}) // the Job controller's
	}
	for _, e := range env {
		switch {
		case e.ValueFrom == nil:
			vars[e.Name] = k8sExpand(e.Value, vars)
		case e.ValueFrom.FieldRef != nil:
			if p := e.ValueFrom.FieldRef.FieldPath; p != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
				t.Fatalf("env %s: fieldRef %s: the test does not know it", e.Name, p)
			}
			vars[e.Name] = strconv.Itoa(k)
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			v, ok := configMaps[ref.Name][ref.Key]
			if !ok && !ref.Optional {
				t.Fatalf("env %s: ConfigMap %s has no %s: the pod would not start", e.Name, ref.Name, ref.Key)
			}
			if ok {
				vars[e.Name] = v
			}
		default:
			t.Fatalf("env %s: a valueFrom the test does not know", e.Name)
		}
	}
	return vars
}

// local moves what is under the volume's mountPath into dir.
func local(s, mountPath, dir string) string {
	if rest, ok := strings.CutPrefix(s, mountPath); ok && (rest == "" || rest[0] == '/') {
		return dir + rest
	}
	if name, value, ok := strings.Cut(s, "="); ok && strings.HasPrefix(value, mountPath+"/") {
		return name + "=" + dir + strings.TrimPrefix(value, mountPath)
	}
	return s
}

// entrypoint is the Dockerfile's ENTRYPOINT, which must be regstorm.
func entrypoint(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile("../deploy/k8s/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var last string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "ENTRYPOINT") {
			last = strings.TrimSpace(strings.TrimPrefix(line, "ENTRYPOINT"))
		}
	}
	if last != `["/regstorm"]` {
		t.Fatalf("the Dockerfile's ENTRYPOINT is %s: the test runs the args after regstorm", last)
	}
}

// scrapeNames reads /metrics at addr: each sample's metric name, and every
// label name seen.
func scrapeNames(t *testing.T, addr string) (body string, names, labels map[string]bool) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	names, labels = map[string]bool{}, map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	labelRE := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		names[name] = true
		if i := strings.IndexByte(line, '{'); i >= 0 {
			for _, m := range labelRE.FindAllStringSubmatch(line[i:strings.LastIndexByte(line, '}')], -1) {
				labels[m[1]] = true
			}
		}
	}
	return string(b), names, labels
}

// dashboardQueries are grafana-dashboard.json's PromQL queries and its
// template variables' queries.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../deploy/k8s/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	var qs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			qs = append(qs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Definition != "" {
			qs = append(qs, v.Definition)
		}
	}
	return qs
}

func TestKubernetesManifestsRunAsWritten(t *testing.T) {
	entrypoint(t)
	shardJob := readJob(t, "../deploy/k8s/regstorm.yaml", "regstorm-shards")
	n := shardJob.Spec.Completions
	if shardJob.Spec.CompletionMode != "Indexed" || n < 2 || shardJob.Spec.Parallelism != n {
		t.Fatalf("regstorm-shards: completionMode %s, completions %d, parallelism %d", shardJob.Spec.CompletionMode, n, shardJob.Spec.Parallelism)
	}
	shard, mountPath, claim := shardJob.container(t, "regstorm")
	mergeJob := readJob(t, "../deploy/k8s/merge/merge.yaml", "regstorm-merge")
	merge, mergeMount, mergeClaim := mergeJob.container(t, "merge")
	if mergeClaim != claim {
		t.Fatalf("the merge reads claim %s, the shards write %s", mergeClaim, claim)
	}

	reg := startRegstormRegistrar(t)
	results := t.TempDir()
	start := time.Now().Add(4 * time.Second).Truncate(time.Second)
	run := map[string]string{ // README.md, step 3
		"REGSTORM_TARGET":   fmt.Sprintf("sip:127.0.0.1:%d", reg.port()),
		"REGSTORM_NAPS":     "400",
		"REGSTORM_RATE":     "800",
		"REGSTORM_DURATION": "3s",
		"REGSTORM_START_AT": strconv.FormatInt(start.Unix(), 10),
	}
	configMaps := map[string]map[string]string{"regstorm-run": run}

	type pod struct {
		cmd     *exec.Cmd
		stderr  *bytes.Buffer
		metrics string
	}
	var pods []*pod
	for k := 0; k < n; k++ {
		vars := podEnv(t, shard, k, configMaps)
		p := &pod{stderr: &bytes.Buffer{}}
		if _, ok := vars["REGSTORM_METRICS_ADDR"]; ok {
			p.metrics = fmt.Sprintf("127.0.0.1:%d", freePort(t))
			vars["REGSTORM_METRICS_ADDR"] = p.metrics
		}
		env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")} // no REGSTORM_* of the test's own
		for name, v := range vars {
			env = append(env, name+"="+local(v, mountPath, results))
		}
		slices.Sort(env[2:])
		var args []string
		for _, a := range append(append([]string(nil), shard.Command...), shard.Args...) {
			args = append(args, local(k8sExpand(a, vars), mountPath, results))
		}
		if k == 0 {
			t.Logf("shard 0: regstorm %s\n  with %s", strings.Join(args, " "), strings.Join(env[2:], " "))
		}
		p.cmd = exec.Command(regstormBinary(t), args...)
		p.cmd.Env, p.cmd.Stderr = env, p.stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pods = append(pods, p)
	}
	t.Cleanup(func() {
		for _, p := range pods {
			if p.cmd.ProcessState == nil {
				_ = p.cmd.Process.Kill()
				_ = p.cmd.Wait()
			}
		}
	})

	// Mid-load, every shard's /metrics: its shard label on every series,
	// and every metric (and summed-by label) of the dashboard.
	time.Sleep(time.Until(start.Add(1500 * time.Millisecond)))
	names, labels := map[string]bool{}, map[string]bool{}
	for k, p := range pods {
		if p.metrics == "" {
			t.Fatalf("shard %d: no REGSTORM_METRICS_ADDR in the manifest (podmonitor.yaml scrapes it)", k)
		}
		body, nm, lb := scrapeNames(t, p.metrics)
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, "regstorm_") && !strings.Contains(line, fmt.Sprintf(`shard="%d"`, k)) {
				t.Errorf("shard %d: a series without its shard label: %s", k, line)
				break
			}
		}
		for x := range nm {
			names[x] = true
		}
		for x := range lb {
			labels[x] = true
		}
	}
	metricRE := regexp.MustCompile(`\bregstorm_[a-z0-9_]+`)
	byRE := regexp.MustCompile(`\bby \(([^)]*)\)`)
	checked, missing := 0, 0
	for _, q := range dashboardQueries(t) {
		for _, m := range metricRE.FindAllString(q, -1) {
			checked++
			if !names[m] {
				missing++
				t.Errorf("the dashboard queries %s, which no shard exports: %s", m, q)
			}
		}
		for _, m := range byRE.FindAllStringSubmatch(q, -1) {
			for _, l := range strings.Split(m[1], ",") {
				if l = strings.TrimSpace(l); !labels[l] {
					missing++
					t.Errorf("the dashboard sums by %s, a label no shard exports: %s", l, q)
				}
			}
		}
	}
	if checked == 0 {
		t.Error("no regstorm metric in the dashboard's queries")
	}
	if missing == 0 {
		t.Logf("the dashboard's %d metric references, and the labels it sums by, are all in the scrape of %d shards", checked, n)
	}

	// kubectl wait --for=condition=complete job/regstorm-shards
	for k, p := range pods {
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("shard %d: %v\n%s", k, err, p.stderr.String())
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("shard %d did not end", k)
		}
	}

	// README.md's steps 6 and 7 as written: kubectl apply -k
	// deploy/k8s/merge; kubectl logs job/regstorm-merge > summary.json (the
	// container's stdout and stderr as one); regstorm report summary.json.
	steps := readSteps(t, mergeJob.Metadata.Name)
	mlog, term := runMergeAsWritten(t, merge, mergeMount, results)
	steps.check(t, "the shards as they ran", mlog)
	if term != "" {
		t.Logf("the merge's termination message: %s", term)
	}
	var merged map[string]any
	if err := json.Unmarshal(mlog, &merged); err != nil {
		t.Fatalf("the merge's log is not the summary: %v\n%s", err, mlog)
	}
	// The same with shard 0's start moved 1.5 s later: the merge warns,
	// and the warning is its termination message, not in its log.
	late := t.TempDir()
	shiftShardStart(t, results, late, 0, 1500*time.Millisecond)
	llog, lterm := runMergeAsWritten(t, merge, mergeMount, late)
	steps.check(t, "a shard begun 1.5 s late", llog)
	if !strings.Contains(lterm, "began 1.5 s apart") {
		t.Errorf("a shard begun 1.5 s late: the termination message %q does not say the shards began apart (log: %s)", lterm, llog)
	}

	// One process, the same load (the ConfigMap's settings but the start
	// time), against the same registrar.
	one := startRegstormRun(t, "--target", run["REGSTORM_TARGET"], "--naps", run["REGSTORM_NAPS"], "--rate", run["REGSTORM_RATE"],
		"--duration", run["REGSTORM_DURATION"], "--quiet")
	select {
	case <-one.exited:
	case <-time.After(60 * time.Second):
		t.Fatal("the single run did not end")
	}
	_ = one.cmd.Wait()
	b, err := os.ReadFile(one.summary)
	if err != nil {
		t.Fatal(err)
	}
	var single map[string]any
	if err := json.Unmarshal(b, &single); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"naps", "registered", "unregistered", "requests", "timeouts", "auth_challenges"} {
		if fmt.Sprint(merged[k]) != fmt.Sprint(single[k]) {
			t.Errorf("%s: merged shards %v, one process %v", k, merged[k], single[k])
		}
	}
	if merged["naps"] != 400.0 || merged["registered"] != 400.0 {
		t.Errorf("merged: %v NAPs, %v registered, want 400", merged["naps"], merged["registered"])
	}
	if fmt.Sprint(merged["responses"]) != fmt.Sprint(single["responses"]) {
		t.Errorf("responses: merged %v, one process %v", merged["responses"], single["responses"])
	}
	mc1 := merged["latency_ms"].(map[string]any)["count"]
	if sc := single["latency_ms"].(map[string]any)["count"]; mc1 != sc {
		t.Errorf("latency samples: merged %v, one process %v", mc1, sc)
	}
	spread, _ := merged["start_spread_ms"].(float64)
	if merged["shards"] != float64(n) || merged["start_at"] != start.UTC().Format(time.RFC3339) || spread > 50 {
		t.Errorf("merged: shards %v, start_at %v (want %s), start_spread_ms %v", merged["shards"], merged["start_at"], start.UTC().Format(time.RFC3339), merged["start_spread_ms"])
	}
	t.Logf("%d shards began %.1f ms apart; merged: %v NAPs, %v registered, %v requests (one process: %v)",
		n, spread, merged["naps"], merged["registered"], merged["requests"], single["requests"])
	if files, _ := filepath.Glob(filepath.Join(results, "shard-*")); len(files) != 2*n {
		t.Errorf("results: %v, want each shard's .hlog and .json", files)
	}
}

// k8sSteps are README.md's steps 6 and 7: the file step 6 keeps the
// merge's log in, and step 7's regstorm command, which reads it.
type k8sSteps struct {
	file   string
	report []string // the args after regstorm
}

// readSteps reads steps 6 and 7 between their markers in README.md: step 6
// must keep `kubectl logs job/<merge>` in a file, and read the
// termination message; step 7 must run regstorm report on that file.
func readSteps(t *testing.T, mergeJob string) k8sSteps {
	t.Helper()
	data, err := os.ReadFile("../deploy/k8s/README.md")
	if err != nil {
		t.Fatal(err)
	}
	step := func(n int) string {
		text := string(data)
		begin, end := fmt.Sprintf("<!-- step %d -->", n), fmt.Sprintf("<!-- /step %d -->", n)
		i, j := strings.Index(text, begin), strings.Index(text, end)
		if i < 0 || j < i {
			t.Fatalf("README.md: no %s ... %s", begin, end)
		}
		return text[i+len(begin) : j]
	}
	var st k8sSteps
	logsRE := regexp.MustCompile(`kubectl logs job/` + regexp.QuoteMeta(mergeJob) + ` > (\S+)`)
	six := step(6)
	m := logsRE.FindStringSubmatch(six)
	if m == nil {
		t.Fatalf("README.md step 6 does not keep `kubectl logs job/%s > FILE`:\n%s", mergeJob, six)
	}
	st.file = m[1]
	if !strings.Contains(six, "job-name="+mergeJob) || !strings.Contains(six, "terminated.message") {
		t.Errorf("README.md step 6 does not read the merge's termination message (its warnings):\n%s", six)
	}
	for _, line := range strings.Split(step(7), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "regstorm" && f[1] == "report" {
			st.report = f[1:]
		}
	}
	if !slices.Contains(st.report, st.file) {
		t.Fatalf("README.md step 7 does not run regstorm report on %s: %v", st.file, st.report)
	}
	return st
}

// check writes log (kubectl logs' output) to step 6's file and runs step
// 7's regstorm report on it, in a directory of its own: it must take it.
func (st k8sSteps) check(t *testing.T, what string, log []byte) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, st.file), log, 0o644); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(regstormBinary(t), st.report...)
	c.Dir = dir
	if out, err := c.CombinedOutput(); err != nil {
		t.Errorf("%s: step 7, regstorm %s: %v: %s\nthe merge's log (step 6's %s):\n%s", what, strings.Join(st.report, " "), err, out, st.file, log)
	}
}

// runMergeAsWritten runs the merge container's args against the volume
// in dir, its stdout and stderr as one stream (its log, as kubectl logs
// gives it), and its termination message file as the kubelet makes it
// (empty, at terminationMessagePath): the log, and the message.
func runMergeAsWritten(t *testing.T, merge *k8sContainer, mountPath, dir string) ([]byte, string) {
	t.Helper()
	termPath := merge.TerminationMessagePath
	if termPath == "" {
		termPath = "/dev/termination-log"
	}
	term := filepath.Join(t.TempDir(), "termination-log")
	if err := os.WriteFile(term, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, a := range append(append([]string(nil), merge.Command...), merge.Args...) {
		args = append(args, strings.ReplaceAll(local(k8sExpand(a, nil), mountPath, dir), termPath, term))
	}
	var log bytes.Buffer
	c := exec.Command(regstormBinary(t), args...)
	c.Env, c.Stdout, c.Stderr = []string{"PATH=" + os.Getenv("PATH")}, &log, &log
	if err := c.Run(); err != nil {
		t.Fatalf("regstorm %s: %v\n%s", strings.Join(args, " "), err, log.String())
	}
	msg, _ := os.ReadFile(term)
	return log.Bytes(), string(msg)
}

// shiftShardStart copies the shards' .hlog files from src to dst, shard
// k's summary line with its started_at moved by d: a shard that began late.
func shiftShardStart(t *testing.T, src, dst string, k int, d time.Duration) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(src, "shard-*.hlog"))
	if len(files) == 0 {
		t.Fatal("no shard .hlog to copy")
	}
	const marker = "[regstorm-summary] "
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(f) == fmt.Sprintf("shard-%d.hlog", k) {
			lines := strings.Split(string(data), "\n")
			moved := false
			for i, line := range lines {
				head, body, ok := strings.Cut(line, marker)
				if !ok {
					continue
				}
				var s map[string]any
				if err := json.Unmarshal([]byte(body), &s); err != nil {
					t.Fatal(err)
				}
				at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(s["started_at"]))
				if err != nil {
					t.Fatalf("shard %d: started_at %v: %v", k, s["started_at"], err)
				}
				s["started_at"] = at.Add(d).Format(time.RFC3339Nano)
				b, _ := json.Marshal(s)
				lines[i], moved = head+marker+string(b), true
			}
			if !moved {
				t.Fatalf("%s: no summary line", f)
			}
			data = []byte(strings.Join(lines, "\n"))
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
