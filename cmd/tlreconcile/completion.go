package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// completeFlagsWithoutParsing is the ValidArgsFunction of a command with
// DisableFlagParsing (plan, which does so to accept terraform's -out FILE).
// For such a command cobra completes flag names but no flag values, and calls
// this instead; it finds the flag whose value is being completed and answers
// as cobra would: the function registered with RegisterFlagCompletionFunc, or
// the extensions of MarkFlagFilename. The command takes no positional
// arguments, so anything else completes to nothing.
func completeFlagsWithoutParsing(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	_ = cmd.InheritedFlags() // merges --state-dir and --no-color into cmd.Flags(), as RunE does
	var name, value, prefix string
	switch {
	case strings.HasPrefix(toComplete, "-") && strings.Contains(toComplete, "="):
		i := strings.Index(toComplete, "=")
		name, value, prefix = strings.TrimLeft(toComplete[:i], "-"), toComplete[i+1:], toComplete[:i+1]
	case len(args) > 0 && strings.HasPrefix(args[len(args)-1], "-") && !strings.Contains(args[len(args)-1], "="):
		name, value = strings.TrimLeft(args[len(args)-1], "-"), toComplete
	default:
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	flag := cmd.Flags().Lookup(name)
	if flag == nil && len(name) == 1 {
		flag = cmd.Flags().ShorthandLookup(name)
	}
	if flag == nil || (flag.NoOptDefVal != "" && prefix == "") {
		return nil, cobra.ShellCompDirectiveNoFileComp // unknown, or a bool flag that takes no value here
	}
	if fn, ok := cmd.GetFlagCompletionFunc(flag.Name); ok {
		comps, directive := fn(cmd, args, value)
		for i := range comps {
			comps[i] = prefix + comps[i]
		}
		return comps, directive
	}
	if exts, ok := flag.Annotations[cobra.BashCompFilenameExt]; ok {
		return exts, cobra.ShellCompDirectiveFilterFileExt
	}
	return nil, cobra.ShellCompDirectiveDefault // file names, as cobra gives a flag without its own completion
}
