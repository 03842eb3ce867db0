package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tlreconcile/tlreconcile/schema"
)

// schemaOptions are the flags of `tlreconcile schema`.
type schemaOptions struct {
	root *rootOptions
	kind string
}

func newSchemaCmd(root *rootOptions) *cobra.Command {
	o := &schemaOptions{root: root}
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the desired-state YAML, for editors",
		Long: `schema prints the JSON Schema (draft 2020-12) that validate uses: one combined document
for all kinds, or a standalone schema for one kind. Point an editor at it with a first line
such as
  # yaml-language-server: $schema=./tlreconcile.schema.json`,
		Example: `  # save the combined schema next to your YAML
  tlreconcile schema > desired/tlreconcile.schema.json

  # only the TrustedLaunchVM kind
  tlreconcile schema --kind TrustedLaunchVM`,
		Args: cobra.NoArgs,
		RunE: runE(o),
	}
	cmd.Flags().StringVar(&o.kind, "kind", "", "print only this kind: "+strings.Join(schema.Kinds(), ", "))
	_ = cmd.RegisterFlagCompletionFunc("kind", cobra.FixedCompletions(schema.Kinds(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Validate checks the flags before any I/O.
func (o *schemaOptions) Validate() error {
	if o.kind == "" {
		return nil
	}
	for _, k := range schema.Kinds() {
		if k == o.kind {
			return nil
		}
	}
	return fmt.Errorf("schema: --kind %q is unknown; use one of %s", o.kind, strings.Join(schema.Kinds(), ", "))
}

// Run prints the schema.
func (o *schemaOptions) Run(_ context.Context) error {
	out := schema.JSON()
	if o.kind != "" {
		var err error
		if out, err = schema.Kind(o.kind); err != nil {
			return err
		}
	}
	if _, err := o.root.stdout.Write(out); err != nil {
		return fmt.Errorf("schema: write output: %w", err)
	}
	return nil
}
