package main

import "testing"

func TestOneOf(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		allowed []string
		want    string // "" = accepted
	}{
		{"accepted", "json", []string{"text", "json"}, ""},
		{"two", "xml", []string{"text", "json"}, `show: --format "xml" is unknown; use text or json`},
		{"three", "", []string{"text", "json", "markdown"}, `show: --format "" is unknown; use text, json or markdown`},
		{"one", "b", []string{"a"}, `show: --format "b" is unknown; use a`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := oneOf("show", "format", tt.value, tt.allowed...)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("oneOf = %q, want %q", got, tt.want)
			}
		})
	}
}
