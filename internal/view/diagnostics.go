package view

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/spec"
)

// Diagnostic output formats.
const (
	FormatText   = "text"
	FormatJSON   = "json"
	FormatGitHub = "github"
)

// DiagnosticsFormatVersion is the version of the JSON diagnostics document.
const DiagnosticsFormatVersion = "1"

// Diagnostics renders diagnostics in one format: text
// ("file:line:col: error[rule]: message" and a count line), json
// ({"format_version":"1","valid":...,"diagnostics":[...]}) or github
// (workflow-command annotations). color applies to text only.
func Diagnostics(w io.Writer, format string, d spec.Diagnostics, color bool) error {
	switch format {
	case FormatText, "":
		return diagnosticsText(w, d, color)
	case FormatJSON:
		return diagnosticsJSON(w, d)
	case FormatGitHub:
		return diagnosticsGitHub(w, d)
	}
	return fmt.Errorf("format %q: unknown; use text, json or github", format)
}

const (
	diagRed    = "\x1b[31m"
	diagYellow = "\x1b[33m"
	diagBold   = "\x1b[1m"
	diagReset  = "\x1b[0m"
)

func diagnosticsText(w io.Writer, d spec.Diagnostics, color bool) error {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + diagReset
	}
	var b strings.Builder
	for _, x := range d {
		sev := paint(diagYellow, string(x.Severity))
		if x.Severity == spec.SeverityError {
			sev = paint(diagRed, string(x.Severity))
		}
		fmt.Fprintf(&b, "%s: %s[%s]: %s\n", paint(diagBold, location(x)), sev, x.Rule, x.Message)
	}
	if len(d) > 0 {
		errs, warns := d.Count()
		fmt.Fprintf(&b, "%s, %s\n", plural(errs, "error"), plural(warns, "warning"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func location(x spec.Diagnostic) string {
	if x.Line <= 0 {
		return x.File
	}
	return x.File + ":" + strconv.Itoa(x.Line) + ":" + strconv.Itoa(x.Column)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func diagnosticsJSON(w io.Writer, d spec.Diagnostics) error {
	doc := struct {
		FormatVersion string            `json:"format_version"`
		Valid         bool              `json:"valid"`
		Diagnostics   []spec.Diagnostic `json:"diagnostics"`
	}{DiagnosticsFormatVersion, !d.HasErrors(), []spec.Diagnostic(d)}
	if doc.Diagnostics == nil {
		doc.Diagnostics = []spec.Diagnostic{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// diagnosticsGitHub writes one workflow command per diagnostic; GitHub shows
// them as annotations on the pull request's files.
func diagnosticsGitHub(w io.Writer, d spec.Diagnostics) error {
	var b strings.Builder
	for _, x := range d {
		cmd := "error"
		if x.Severity != spec.SeverityError {
			cmd = "warning"
		}
		props := []string{"file=" + ghProperty(x.File)}
		if x.Line > 0 {
			props = append(props, "line="+strconv.Itoa(x.Line), "col="+strconv.Itoa(x.Column))
		}
		props = append(props, "title="+ghProperty("tlreconcile "+x.Rule))
		fmt.Fprintf(&b, "::%s %s::%s\n", cmd, strings.Join(props, ","), ghData(x.Message))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ghData escapes a workflow command's message.
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// ghProperty escapes a workflow command's property value.
func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
