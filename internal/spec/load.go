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
	checkFiles(col, val, l.merge)
	d := l.resolve()
	return d, diags.sortAndDedup()
}

// loader holds the documents of one Load while rules run across them.
type loader struct {
	val      *validator
	diags    *Diagnostics
	files    []string
	clusters []clusterDoc
	vms      []VM      // in input order; become Desired.VMs
	vmRefs   []*docRef // vmRefs[i] is where vms[i] was written
	catalogs []catalogDoc
	builtin  []CatalogImage
	// names of documents that failed the schema but did name themselves,
	// so references to them do not cascade into unknown-cluster noise
	brokenClusters map[string]bool
}

type clusterDoc struct {
	Cluster
	doc *docRef
}

// vmDoc is one of the loader's VMs while the rules run: a VM is only copied
// once, from its file's result into the loader, which hands it on as Desired.VMs.
type vmDoc struct {
	*VM
	doc *docRef
}

type catalogDoc struct {
	name   string
	images []CatalogImage
	doc    *docRef
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

// fileResult is what one file leaves once checked: its typed documents,
// reduced positions and diagnostics. Its node trees and maps are garbage.
type fileResult struct {
	name     string
	read     bool // the file could be read: it is one of Desired.Files
	diags    Diagnostics
	clusters []clusterDoc
	vms      []VM
	vmRefs   []*docRef
	catalogs []catalogDoc
	// names of Cluster documents that failed the schema but did name
	// themselves, so references to them do not cascade into unknown-cluster noise
	brokenClusters []string
	intern         interner // while the file is checked
}

// checkFiles reads, parses, schema-checks and decodes files with one worker
// per CPU; a worker holds one file's bytes, node tree and values at a time.
// merge sees the results in input order (so the outcome does not depend on
// scheduling), each as soon as it and every file before it are done.
func checkFiles(col *collector, val *validator, merge func(*fileResult)) {
	srcs := col.srcs
	results := make([]fileResult, len(srcs))
	done := make([]chan struct{}, len(srcs))
	for i := range done {
		done[i] = make(chan struct{})
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(srcs), 1)) {
		wg.Go(func() {
			for i := range next {
				results[i] = checkFile(srcs[i], col, val)
				close(done[i])
			}
		})
	}
	go func() {
		for i := range srcs {
			next <- i
		}
		close(next)
	}()
	for i := range srcs {
		<-done[i]
		merge(&results[i])
		results[i] = fileResult{}
	}
	wg.Wait()
}

// checkFile is one file's whole check: it is independent of every other file.
func checkFile(src source, col *collector, val *validator) fileResult {
	r := fileResult{name: src.name}
	if src.deferred {
		data, d := col.readChecked(src.name)
		if d != nil {
			r.diags = append(r.diags, *d)
			return r
		}
		src.data = data
	}
	r.read = true
	for _, doc := range parseFile(src, &r.diags) {
		valid := val.validate(doc, &r.diags) && !doc.broken
		r.add(doc, valid)
	}
	r.intern = interner{}
	return r
}

// add keeps one schema-checked document when usable.
func (r *fileResult) add(doc *document, valid bool) {
	root, _ := doc.value.(map[string]any)
	kind, _ := root["kind"].(string)
	if !valid {
		if kind == string(KindCluster) {
			if name, isStr := obj(root, "metadata")["name"].(string); isStr {
				r.brokenClusters = append(r.brokenClusters, name)
			}
		}
		return
	}
	ref := func() *docRef {
		ref := newDocRef(doc.file, doc.node)
		return &ref
	}
	switch Kind(kind) {
	case KindCluster:
		r.clusters = append(r.clusters, clusterDoc{Cluster: decodeCluster(doc), doc: ref()})
	case KindTrustedLaunchVM:
		r.vms = append(r.vms, r.intern.vm(doc))
		r.vmRefs = append(r.vmRefs, ref())
	case KindImageCatalog:
		name, imgs := decodeCatalog(doc, false)
		r.catalogs = append(r.catalogs, catalogDoc{name: name, images: imgs, doc: ref()})
	}
}

// merge takes one file's result, in input order.
func (l *loader) merge(r *fileResult) {
	*l.diags = append(*l.diags, r.diags...)
	if r.read {
		l.files = append(l.files, r.name)
	}
	l.clusters = append(l.clusters, r.clusters...)
	l.vms = append(l.vms, r.vms...)
	l.vmRefs = append(l.vmRefs, r.vmRefs...)
	l.catalogs = append(l.catalogs, r.catalogs...)
	for _, name := range r.brokenClusters {
		if l.brokenClusters == nil {
			l.brokenClusters = map[string]bool{}
		}
		l.brokenClusters[name] = true
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
		l.checkVM(vmDoc{VM: &l.vms[i], doc: l.vmRefs[i]}, clusters, catalog)
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
	d.VMs, l.vms, l.vmRefs = l.vms, nil, nil
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
