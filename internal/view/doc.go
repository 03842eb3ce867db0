// Package view renders diagnostics, observations, plans and apply events as
// text, JSON, Markdown and GitHub annotations. It writes to an injected
// io.Writer, is chosen once from --format, and never decides anything: it reads
// spec, drivers and plan types and must not call drivers or change state.
package view
