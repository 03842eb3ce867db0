// Package schema owns the JSON Schema (draft 2020-12) of tlreconcile's YAML
// documents and the built-in image catalog, both embedded with go:embed and
// handed out as fresh copies. It only serves these files: it must not load
// user input, validate documents or import any other tlreconcile package.
package schema
