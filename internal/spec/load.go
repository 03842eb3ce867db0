package spec

import (
	"cmp"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/tlreconcile/tlreconcile/schema"
)

// LoadOptions says what to read.
type LoadOptions struct {
	// Paths are files or directories (read recursively); "-" reads Stdin.
	Paths []string
	// Stdin is read for the path "-".
	Stdin io.Reader
	// MaxFileSize is the largest file read, in bytes; 0 means DefaultMaxFileSize (4 MiB).
	MaxFileSize int64
}

// BuiltinCatalogFile is the file name diagnostics and positions use for the built-in catalog.
const BuiltinCatalogFile = "schema/" + schema.CatalogFileName

// Load reads, validates and defaults the desired state. It reports every
// problem of every file, sorted by file, line and column, and never panics.
// Desired holds every document that passed the schema (so callers can show
// what was understood); it is nil only when nothing usable was found. Act on
// it only when !diags.HasErrors().
func Load(opts LoadOptions) (*Desired, Diagnostics) {
	var diags Diagnostics
	maxSize := opts.MaxFileSize
	if maxSize <= 0 {
		maxSize = DefaultMaxFileSize
	}
	if len(opts.Paths) == 0 {
		diags = append(diags, Diagnostic{Severity: SeverityError, Rule: RuleNoYAMLFiles, File: ".", Message: "no files given; pass files or directories with -f PATH (or -f - for standard input)"})
		return nil, diags
	}
	col := &collector{maxSize: maxSize, stdin: opts.Stdin, seen: map[string]bool{}, diags: &diags}
	col.collect(opts.Paths)

	val, err := sharedValidator()
	if err != nil {
		diags = append(diags, Diagnostic{Severity: SeverityError, Rule: RuleInternal, File: schema.FileName, Message: fmt.Sprintf("%v; the binary is broken, rebuild it", err)})
		return nil, diags.sortAndDedup()
	}
	l := &loader{val: val, diags: &diags}
	l.loadBuiltinCatalog()
	for _, fr := range checkFiles(col.srcs, val) {
		diags = append(diags, fr.diags...)
		for _, doc := range fr.docs {
			l.add(doc)
		}
	}
	for _, src := range col.srcs {
		l.files = append(l.files, src.name)
	}
	d := l.resolve()
	return d, diags.sortAndDedup()
}

// loader holds the documents of one Load while rules run across them.
type loader struct {
	val      *validator
	diags    *Diagnostics
	files    []string
	clusters []clusterDoc
	vms      []vmDoc
	catalogs []catalogDoc
	builtin  []CatalogImage
	// names of documents that failed the schema but did name themselves,
	// so references to them do not cascade into unknown-cluster noise
	brokenClusters map[string]bool
}

type clusterDoc struct {
	Cluster
	doc *document
}

type vmDoc struct {
	VM
	doc *document
}

type catalogDoc struct {
	name   string
	images []CatalogImage
	doc    *document
}

func (l *loader) loadBuiltinCatalog() {
	imgs, ok := sharedBuiltinCatalog()
	if !ok {
		*l.diags = append(*l.diags, Diagnostic{Severity: SeverityError, Rule: RuleInternal, File: BuiltinCatalogFile,
			Message: "the built-in image catalog is invalid; the binary is broken, rebuild it"})
	}
	l.builtin = slices.Clone(imgs)
}

// The compiled schema and the parsed built-in catalog depend only on embedded
// files, so they are computed once per process and never change afterwards:
// an immutable cache, not mutable state. Compiling costs ~1.5 MB of
// allocations, which every Load (and every watch trigger) would otherwise pay.
var (
	sharedValidator      = sync.OnceValues(newValidator)
	sharedBuiltinCatalog = sync.OnceValues(builtinCatalog)
)

func builtinCatalog() ([]CatalogImage, bool) {
	val, err := sharedValidator()
	if err != nil {
		return nil, false
	}
	var diags Diagnostics
	var out []CatalogImage
	for _, doc := range parseFile(source{name: BuiltinCatalogFile, data: schema.Catalog()}, &diags) {
		if val.validate(doc, &diags) {
			_, imgs := decodeCatalog(doc, true)
			out = append(out, imgs...)
		}
	}
	return out, len(diags) == 0 && len(out) > 0
}

// fileResult is one file's documents, already checked against the schema.
type fileResult struct {
	docs  []*document
	diags Diagnostics
}

// checkFiles parses and schema-checks files in parallel (one worker per CPU);
// files are independent until the cross-document rules, and results keep the
// input order so the outcome does not depend on scheduling.
func checkFiles(srcs []source, val *validator) []fileResult {
	results := make([]fileResult, len(srcs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(srcs), 1)) {
		wg.Go(func() {
			for i := range next {
				r := &results[i]
				r.docs = parseFile(srcs[i], &r.diags)
				for _, doc := range r.docs {
					doc.valid = val.validate(doc, &r.diags) && !doc.broken
				}
			}
		})
	}
	for i := range srcs {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// add keeps one schema-checked document when usable.
func (l *loader) add(doc *document) {
	root, _ := doc.value.(map[string]any)
	kind, _ := root["kind"].(string)
	if !doc.valid {
		if kind == string(KindCluster) {
			if name, isStr := obj(root, "metadata")["name"].(string); isStr {
				if l.brokenClusters == nil {
					l.brokenClusters = map[string]bool{}
				}
				l.brokenClusters[name] = true
			}
		}
		return
	}
	switch Kind(kind) {
	case KindCluster:
		l.clusters = append(l.clusters, clusterDoc{Cluster: decodeCluster(doc), doc: doc})
	case KindTrustedLaunchVM:
		l.vms = append(l.vms, vmDoc{VM: decodeVM(doc), doc: doc})
	case KindImageCatalog:
		name, imgs := decodeCatalog(doc, false)
		l.catalogs = append(l.catalogs, catalogDoc{name: name, images: imgs, doc: doc})
	}
}

// resolve runs the cross-document rules and builds the Desired state.
func (l *loader) resolve() *Desired {
	l.checkDuplicates()
	catalog := l.catalog()
	clusters := map[string]*clusterDoc{}
	for i := range l.clusters {
		c := &l.clusters[i]
		if _, dup := clusters[c.Name]; !dup {
			clusters[c.Name] = c
		}
		l.checkCluster(c)
	}
	for i := range l.vms {
		l.checkVM(&l.vms[i], clusters, catalog)
	}
	if len(l.clusters) == 0 && len(l.vms) == 0 && len(l.catalogs) == 0 {
		return nil
	}
	d := &Desired{Catalog: catalog, Files: slices.Clone(l.files)}
	slices.Sort(d.Files)
	d.Files = slices.Compact(d.Files)
	for _, c := range l.clusters {
		d.Clusters = append(d.Clusters, c.Cluster)
	}
	for _, v := range l.vms {
		d.VMs = append(d.VMs, v.VM)
	}
	slices.SortStableFunc(d.Clusters, func(a, b Cluster) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortStableFunc(d.VMs, func(a, b VM) int { return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Name, b.Name)) })
	if d.Clusters == nil {
		d.Clusters = []Cluster{}
	}
	if d.VMs == nil {
		d.VMs = []VM{}
	}
	return d
}

// catalog is the built-in images followed by user images (sorted, without repeats).
func (l *loader) catalog() []CatalogImage {
	out := slices.Clone(l.builtin)
	var user []CatalogImage
	for _, c := range l.catalogs {
		for _, img := range c.images {
			if _, known := findImage(out, img.Image); known {
				continue
			}
			if _, known := findImage(user, img.Image); known {
				continue
			}
			user = append(user, img)
		}
	}
	slices.SortStableFunc(user, func(a, b CatalogImage) int { return cmp.Compare(a.key(), b.key()) })
	return append(out, user...)
}
