package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// modeline is the yaml-language-server comment that maps one YAML document to
// the schema. The server reads it per document, so a multi-document file needs
// it after every `---`.
const modeline = "# yaml-language-server: $schema="

// TestEveryExampleDocumentHasModeline: every document of every example YAML
// file (except the ones that exist to be broken) names the schema, so an editor
// checks the second document of a file as well as the first.
func TestEveryExampleDocumentHasModeline(t *testing.T) {
	files, err := filepath.Glob("../../examples/*/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example YAML files: %v %v", files, err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), modeline) {
			continue // invalid-encoding.yaml and friends: not meant for an editor
		}
		for i, doc := range splitDocuments(string(raw)) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			if !strings.Contains(doc, modeline) {
				t.Errorf("%s: document %d has no %q line: editors leave it unchecked", file, i+1, modeline)
			}
		}
	}
}

// splitDocuments splits YAML text at its `---` lines.
func splitDocuments(s string) []string {
	return regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`).Split(s, -1)
}

// yamlLanguageServer starts the real yaml-language-server (scripts/yamlls,
// installed by `make deps`) over stdio. Without node or the package the test
// is skipped, except in CI (CI set), where it fails.
func yamlLanguageServer(t *testing.T) *lspClient {
	t.Helper()
	missing := func(msg string) {
		t.Helper()
		msg += "; run make deps (installs node and yaml-language-server)"
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set and the yaml-language-server test cannot run: %s", msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	server, err := filepath.Abs("../../scripts/yamlls/node_modules/yaml-language-server/bin/yaml-language-server")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(server); err != nil {
		missing("yaml-language-server is not installed in scripts/yamlls")
	}
	cmd := exec.Command(node, server, "--stdio")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &testLogWriter{t: t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &lspClient{t: t, in: stdin, diags: make(chan publishDiagnostics, 16), settings: map[string]any{}}
	go c.read(bufio.NewReader(stdout))
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return c
}

type testLogWriter struct {
	mu sync.Mutex
	t  *testing.T
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Logf("yaml-language-server: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}

type lspDiagnostic struct {
	Range struct {
		Start struct{ Line, Character int } `json:"start"`
	} `json:"range"`
	Message string `json:"message"`
}

type publishDiagnostics struct {
	URI         string          `json:"uri"`
	Diagnostics []lspDiagnostic `json:"diagnostics"`
}

// lspClient is the smallest LSP client the test needs: requests, the
// server's own requests (configuration, registration) answered, and
// published diagnostics collected.
type lspClient struct {
	t        *testing.T
	mu       sync.Mutex
	in       io.Writer
	nextID   int
	settings map[string]any // answers workspace/configuration by section
	diags    chan publishDiagnostics
}

func (c *lspClient) send(msg map[string]any) {
	c.t.Helper()
	msg["jsonrpc"] = "2.0"
	body, err := json.Marshal(msg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := fmt.Fprintf(c.in, "Content-Length: %d\r\n\r\n%s", len(body), body); err != nil {
		c.t.Errorf("lsp: write: %v", err)
	}
}

func (c *lspClient) request(method string, params any) {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.mu.Unlock()
	c.send(map[string]any{"id": id, "method": method, "params": params})
}

func (c *lspClient) notify(method string, params any) {
	c.send(map[string]any{"method": method, "params": params})
}

func (c *lspClient) read(r *bufio.Reader) {
	for {
		length := -1
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				close(c.diags)
				return
			}
			line = strings.TrimSpace(line)
			if line == "" {
				break
			}
			if v, ok := strings.CutPrefix(line, "Content-Length:"); ok {
				length, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(r, body); err != nil {
			close(c.diags)
			return
		}
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		if json.Unmarshal(body, &msg) != nil {
			continue
		}
		switch {
		case msg.Method == "textDocument/publishDiagnostics":
			var p publishDiagnostics
			if json.Unmarshal(msg.Params, &p) == nil {
				c.diags <- p
			}
		case msg.Method == "workspace/configuration" && msg.ID != nil:
			var p struct {
				Items []struct {
					Section string `json:"section"`
				} `json:"items"`
			}
			_ = json.Unmarshal(msg.Params, &p)
			result := make([]any, len(p.Items))
			for i, it := range p.Items {
				result[i] = c.settings[it.Section]
			}
			c.send(map[string]any{"id": msg.ID, "result": result})
		case msg.Method != "" && msg.ID != nil: // client/registerCapability and the like
			c.send(map[string]any{"id": msg.ID, "result": nil})
		}
	}
}

// start initializes the server on the workspace folder root with the given
// "yaml" settings.
func (c *lspClient) start(root string, yamlSettings map[string]any) {
	c.settings["yaml"] = yamlSettings
	c.request("initialize", map[string]any{
		"processId": os.Getpid(),
		"rootUri":   fileURI(root),
		"workspaceFolders": []any{map[string]any{
			"uri": fileURI(root), "name": filepath.Base(root),
		}},
		"capabilities": map[string]any{
			"workspace": map[string]any{"configuration": true},
			"textDocument": map[string]any{
				"publishDiagnostics": map[string]any{},
			},
		},
	})
	c.notify("initialized", map[string]any{})
	c.notify("workspace/didChangeConfiguration", map[string]any{"settings": map[string]any{"yaml": yamlSettings}})
}

// diagnose opens path with text and returns the diagnostics the server
// publishes for it once they include one on line want (the sanity fault), or
// the last ones published when that does not happen in time.
func (c *lspClient) diagnose(path, text string, want int) []lspDiagnostic {
	c.t.Helper()
	uri := fileURI(path)
	c.notify("textDocument/didOpen", map[string]any{"textDocument": map[string]any{
		"uri": uri, "languageId": "yaml", "version": 1, "text": text,
	}})
	var last []lspDiagnostic
	deadline := time.After(30 * time.Second)
	for {
		select {
		case p, ok := <-c.diags:
			if !ok {
				c.t.Fatal("yaml-language-server exited")
			}
			if p.URI != uri {
				continue
			}
			last = p.Diagnostics
			if hasDiagnosticAt(last, want) {
				return last
			}
		case <-deadline:
			c.t.Errorf("the server never reported the fault on line %d (first document): is the schema found?", want+1)
			return last
		}
	}
}

func fileURI(path string) string {
	abs, _ := filepath.Abs(path)
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
}

// breakDocuments puts an unknown field into the first and the second
// document of a multi-document file and returns the text and the 0-based
// lines of both faults. The first one shows the schema was loaded at all.
func breakDocuments(t *testing.T, text string) (broken string, first, second int) {
	t.Helper()
	var out []string
	seps, found := 0, 0
	for _, l := range strings.Split(text, "\n") {
		out = append(out, l)
		if strings.HasPrefix(l, "---") {
			seps++
		}
		if l == "spec:" && seps < 2 {
			out = append(out, "  procesors: 4")
			if seps == 0 {
				first = len(out) - 1
			} else {
				second = len(out) - 1
			}
			found++
		}
	}
	if found != 2 {
		t.Fatal("want a spec: line in the first and the second document")
	}
	return strings.Join(out, "\n"), first, second
}

func hasDiagnosticAt(diags []lspDiagnostic, line int) bool {
	for _, d := range diags {
		if d.Range.Start.Line == line {
			return true
		}
	}
	return false
}

// TestEditorChecksEveryDocument opens a multi-document example, with an
// unknown field in its second document, in the real yaml-language-server and
// insists the server reports it: once through the examples' own modelines,
// once through the yaml.schemas settings the README shows (and no modeline).
func TestEditorChecksEveryDocument(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(repo, "examples/basic/vms.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text, first, second := breakDocuments(t, string(raw))

	t.Run("modeline per document", func(t *testing.T) {
		ls := yamlLanguageServer(t)
		ls.start(repo, map[string]any{"validate": true})
		diags := ls.diagnose(filepath.Join(repo, "examples/basic/vms.yaml"), text, first)
		if !hasDiagnosticAt(diags, second) {
			t.Errorf("the unknown field on line %d (second document) is not reported; diagnostics: %+v", second+1, diags)
		}
	})

	t.Run("README yaml.schemas settings", func(t *testing.T) {
		// Found before runCLI moves the working directory to the repository root.
		ls := yamlLanguageServer(t)
		settings := readmeYAMLSchemas(t, filepath.Join(repo, "README.md"))
		ws := t.TempDir()
		schemaOut, err := runCLI(t, "", "schema")
		if err != nil {
			t.Fatalf("tlreconcile schema: %v", err)
		}
		if err := os.WriteFile(filepath.Join(ws, "tlreconcile.schema.json"), []byte(schemaOut), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(ws, "desired"), 0o755); err != nil {
			t.Fatal(err)
		}
		var plain []string
		for _, l := range strings.Split(string(raw), "\n") {
			if !strings.HasPrefix(l, modeline) {
				plain = append(plain, l)
			}
		}
		text, first, second := breakDocuments(t, strings.Join(plain, "\n"))
		ls.start(ws, map[string]any{"validate": true, "schemas": settings})
		diags := ls.diagnose(filepath.Join(ws, "desired", "vms.yaml"), text, first)
		if !hasDiagnosticAt(diags, second) {
			t.Errorf("with the README's yaml.schemas, the unknown field on line %d (second document) is not reported; diagnostics: %+v", second+1, diags)
		}
	})
}

// readmeYAMLSchemas returns the "yaml.schemas" value of the first ```json
// block in README.md that has one (the editor settings users copy).
func readmeYAMLSchemas(t *testing.T, readme string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(string(raw), -1) {
		var block map[string]any
		if json.Unmarshal([]byte(m[1]), &block) != nil {
			continue
		}
		if s, ok := block["yaml.schemas"].(map[string]any); ok {
			return s
		}
	}
	t.Fatal(`README.md shows no json block with "yaml.schemas" (the editor settings)`)
	return nil
}
