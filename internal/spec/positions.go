package spec

import "gopkg.in/yaml.v3"

// The loader keeps a file's yaml.Node tree only while that file is checked.
// What the cross-document rules (duplicate names, cluster and node
// references, images, trusted-launch settings) and the typed documents cite
// later is kept in a docRef: the file name and, per cited JSON pointer, the
// line and column locate gives for it (the deepest node present, as for a
// missing field). 14 pointers of 8 bytes each instead of a node tree of ~2 KB.

// cited is one JSON pointer the rules may cite after the node tree is gone.
type cited uint8

const (
	citeRoot cited = iota
	citeMetadata
	citeMetadataName
	citeMetadataCluster
	citePlacementNode
	citeImage
	citeImagePublisher
	citeImageOffer
	citeImageSku
	citeImageVersion
	citeSecureBootEnabled
	citeSecureBootTemplate
	citeVTPMEnabled
	citeBootIntegrity
	citeLiveMigrationEncryption
	citeIgvmAgent
	citeVMFileAccess
	citeOptionsVMPath
	citeAttestation
	numCited
)

// pointer is the JSON pointer of c.
func (c cited) pointer() string {
	switch c {
	case citeMetadata:
		return "/metadata"
	case citeMetadataName:
		return "/metadata/name"
	case citeMetadataCluster:
		return "/metadata/cluster"
	case citePlacementNode:
		return "/spec/placement/node"
	case citeImage:
		return "/spec/image"
	case citeImagePublisher:
		return "/spec/image/publisher"
	case citeImageOffer:
		return "/spec/image/offer"
	case citeImageSku:
		return "/spec/image/sku"
	case citeImageVersion:
		return "/spec/image/version"
	case citeSecureBootEnabled:
		return "/spec/secureBoot/enabled"
	case citeSecureBootTemplate:
		return "/spec/secureBoot/template"
	case citeVTPMEnabled:
		return "/spec/vtpm/enabled"
	case citeBootIntegrity:
		return "/spec/bootIntegrityVerification"
	case citeLiveMigrationEncryption:
		return "/spec/liveMigration/encryption"
	case citeIgvmAgent:
		return "/spec/igvmAgent"
	case citeVMFileAccess:
		return "/spec/vmFileAccess"
	case citeOptionsVMPath:
		return "/spec/options/vmPath"
	case citeAttestation:
		return "/spec/attestation"
	}
	return ""
}

// lineCol is a 1-based position; int32 keeps the index small (a file is at most a few MiB).
type lineCol struct{ line, col int32 }

// docRef is where one document was written, reduced to what is cited later.
type docRef struct {
	file string
	pos  [numCited]lineCol
}

// newDocRef indexes the cited pointers of the document whose root content node is root.
func newDocRef(file string, root *yaml.Node) docRef {
	r := docRef{file: file}
	for c := range numCited {
		_, n, _ := locate(root, c.pointer())
		r.pos[c] = lineCol{int32(n.Line), int32(n.Column)}
	}
	return r
}

// at is where c was written (or the deepest node present on its way).
func (r *docRef) at(c cited) Pos {
	p := r.pos[c]
	return Pos{File: r.file, Line: int(p.line), Column: int(p.col)}
}
