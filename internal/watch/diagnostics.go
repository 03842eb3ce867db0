package watch

// TEMPORARY until spec.Diagnostic lands; replaced by an alias.
type Diagnostic struct {
	Severity string `json:"severity"`
	Rule     string `json:"rule"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Path     string `json:"path"`
	Message  string `json:"message"`
}
