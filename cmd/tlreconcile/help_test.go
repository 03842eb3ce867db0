package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// parseCommandLine parses args (without the leading "tlreconcile") against a
// fresh command tree exactly as the binary would, without running anything,
// and returns the command they reach with its flags parsed.
func parseCommandLine(args []string) (*cobra.Command, error) {
	root := newRootCmd(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	sub, rest, err := root.Find(args)
	if err != nil {
		return nil, err
	}
	if sub.DisableFlagParsing {
		_ = sub.InheritedFlags() // merges --state-dir and --no-color, as plan's RunE does
		err = sub.Flags().Parse(terraformStyleOut(rest))
	} else {
		err = sub.ParseFlags(rest)
	}
	return sub, err
}

// exampleArgs returns the arguments of the tlreconcile command on a line of
// shell (up to a pipe or a redirection, quotes removed); ok is false when the
// line is a comment or runs no tlreconcile command.
func exampleArgs(line string) (args []string, ok bool) {
	i := strings.Index(line, "tlreconcile ")
	if i < 0 || strings.HasPrefix(strings.TrimSpace(line), "#") {
		return nil, false
	}
	cmdline := line[i+len("tlreconcile "):]
	if j := strings.IndexAny(cmdline, "|>"); j >= 0 {
		cmdline = cmdline[:j]
	}
	for _, f := range strings.Fields(cmdline) {
		args = append(args, strings.Trim(f, `"'`))
	}
	return args, true
}

// TestEveryCommandHasExamples: every command's --help has an Example block,
// and every tlreconcile line in it parses against the real command tree, so
// the examples cannot drift from the flags.
func TestEveryCommandHasExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		t.Run(c.CommandPath(), func(t *testing.T) {
			if strings.TrimSpace(c.Example) == "" {
				t.Fatal("no Example block in --help")
			}
			lines := 0
			for _, line := range strings.Split(c.Example, "\n") {
				args, ok := exampleArgs(line)
				if !ok {
					continue
				}
				lines++
				sub, err := parseCommandLine(args)
				if err == nil {
					err = sub.ValidateArgs(sub.Flags().Args())
				}
				if err != nil {
					t.Errorf("example %q: %v", strings.TrimSpace(line), err)
				}
			}
			if lines == 0 {
				t.Errorf("the Example block runs no tlreconcile command:\n%s", c.Example)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}))
}
