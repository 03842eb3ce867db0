package spec

import (
	"slices"
	"strconv"
)

// Typed decoding of schema-valid documents, with the defaults of DESIGN §3.
// The schema has already checked every type, so a wrong type here can only
// mean "absent" and falls back to the default.

// Defaults, also stated in the schema's descriptions.
const (
	DefaultDriver       = "sim"
	DefaultIgvmAgent    = "required"
	DefaultVMFileAccess = "hostAdminsOnly"
	DefaultEncryption   = "ipsec"
	DefaultProcessors   = 2
	DefaultMemoryMB     = 4096
)

func obj(m map[string]any, k string) map[string]any {
	v, _ := m[k].(map[string]any)
	return v
}

func str(m map[string]any, k, def string) string {
	if v, ok := m[k].(string); ok {
		return v
	}
	return def
}

func boolean(m map[string]any, k string, def bool) bool {
	if v, ok := m[k].(bool); ok {
		return v
	}
	return def
}

func integer(m map[string]any, k string, def int64) int64 {
	switch v := m[k].(type) {
	case int64:
		return v
	case float64: // 4.0 is an integer to JSON Schema
		return int64(v)
	}
	return def
}

func labels(m map[string]any) map[string]string {
	l := obj(m, "labels")
	if len(l) == 0 {
		return nil
	}
	out := make(map[string]string, len(l))
	for k, v := range l {
		s, _ := v.(string)
		out[k] = s
	}
	return out
}

// interner makes the VMs of one file share their repeated strings (cluster,
// image, template, power, node, label values) and their label maps, instead
// of each VM keeping its own copies alive after the file's values are
// garbage: a fleet file repeats most of them in every document. It lives as
// long as one file's check.
type interner struct {
	strs   map[string]string
	labels map[string]map[string]string
	key    []byte
}

func (in *interner) str(s string) string {
	if t, ok := in.strs[s]; ok {
		return t
	}
	if in.strs == nil {
		in.strs = map[string]string{}
	}
	in.strs[s] = s
	return s
}

// labelSet returns a map equal to l, shared with every earlier VM of the file
// whose labels are equal. l is the VM's own, freshly made map.
func (in *interner) labelSet(l map[string]string) map[string]string {
	if len(l) == 0 {
		return l
	}
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	in.key = in.key[:0]
	for _, k := range keys {
		in.key = strconv.AppendQuote(in.key, k)
		in.key = strconv.AppendQuote(in.key, l[k])
	}
	if shared, ok := in.labels[string(in.key)]; ok {
		return shared
	}
	if in.labels == nil {
		in.labels = map[string]map[string]string{}
	}
	in.labels[string(in.key)] = l
	return l
}

// vm decodes a VM document with in's shared strings and label maps.
func (in *interner) vm(doc *document) VM {
	v := decodeVM(doc)
	v.Cluster = in.str(v.Cluster)
	v.Labels = in.labelSet(v.Labels)
	v.SecurityType = in.str(v.SecurityType)
	v.Image = Image{Publisher: in.str(v.Image.Publisher), Offer: in.str(v.Image.Offer), Sku: in.str(v.Image.Sku), Version: in.str(v.Image.Version)}
	v.SecureBoot.Template = in.str(v.SecureBoot.Template)
	v.Placement.Node = in.str(v.Placement.Node)
	v.Power = in.str(v.Power)
	return v
}

func (d *document) pos() Pos { return Pos{File: d.file, Line: d.node.Line, Column: d.node.Column} }

func decodeCluster(doc *document) Cluster {
	root, _ := doc.value.(map[string]any)
	meta, spec := obj(root, "metadata"), obj(root, "spec")
	c := Cluster{
		Name:          str(meta, "name", ""),
		Pos:           doc.pos(),
		Driver:        str(spec, "driver", DefaultDriver),
		Options:       obj(spec, "options"),
		IgvmAgent:     str(spec, "igvmAgent", DefaultIgvmAgent),
		VMFileAccess:  str(spec, "vmFileAccess", DefaultVMFileAccess),
		LiveMigration: LiveMigration{Encryption: str(obj(spec, "liveMigration"), "encryption", DefaultEncryption)},
	}
	if kb, ok := spec["keyBackup"].(map[string]any); ok {
		c.KeyBackup = &KeyBackup{WrappingKey: str(kb, "wrappingKey", ""), Destination: str(kb, "destination", ""), MaxAge: str(kb, "maxAge", "")}
	}
	nodes, _ := spec["nodes"].([]any)
	c.Nodes = make([]string, 0, len(nodes))
	for _, n := range nodes {
		s, _ := n.(string)
		c.Nodes = append(c.Nodes, s)
	}
	return c
}

func decodeVM(doc *document) VM {
	root, _ := doc.value.(map[string]any)
	meta, spec := obj(root, "metadata"), obj(root, "spec")
	img, sb, tpm := obj(spec, "image"), obj(spec, "secureBoot"), obj(spec, "vtpm")
	return VM{
		Name:         str(meta, "name", ""),
		Cluster:      str(meta, "cluster", ""),
		Labels:       labels(meta),
		Pos:          doc.pos(),
		SecurityType: str(spec, "securityType", SecurityTrustedLaunch),
		Image: Image{
			Publisher: str(img, "publisher", ""),
			Offer:     str(img, "offer", ""),
			Sku:       str(img, "sku", ""),
			Version:   str(img, "version", ""),
		},
		Processors: int(integer(spec, "processors", DefaultProcessors)),
		MemoryMB:   integer(spec, "memoryMB", DefaultMemoryMB),
		SecureBoot: SecureBoot{
			Enabled:  boolean(sb, "enabled", true),
			Template: str(sb, "template", TemplateMicrosoftWindows),
		},
		VTPM:                            VTPM{Enabled: boolean(tpm, "enabled", true)},
		VBS:                             boolean(spec, "vbs", true),
		EncryptStateAndMigrationTraffic: boolean(spec, "encryptStateAndMigrationTraffic", true),
		BootIntegrityVerification:       boolean(spec, "bootIntegrityVerification", false),
		Placement:                       Placement{Node: str(obj(spec, "placement"), "node", "")},
		Power:                           str(spec, "power", PowerRunning),
		Protect:                         boolean(spec, "protect", false),
		Network:                         decodeNetwork(spec),
		StoragePath:                     str(spec, "storagePath", ""),
		OSProfile:                       decodeOSProfile(spec),
		Attestation:                     decodeAttestation(spec),
	}
}

func decodeAttestation(spec map[string]any) *Attestation {
	a, ok := spec["attestation"].(map[string]any)
	if !ok {
		return nil
	}
	req := obj(a, "require")
	optBool := func(k string) *bool {
		if b, ok := req[k].(bool); ok {
			return &b
		}
		return nil
	}
	sb := boolean(req, "secureBoot", true)
	var accept []string
	if list, ok := a["acceptBoot"].([]any); ok {
		for _, d := range list {
			if d, ok := d.(string); ok {
				accept = append(accept, d)
			}
		}
	}
	return &Attestation{
		AcceptBoot: accept,
		Enabled:    boolean(a, "enabled", true),
		Interval:   str(a, "interval", DefaultAttestationInterval),
		Require: AttestationRequires{SecureBoot: &sb, CodeIntegrity: optBool("codeIntegrity"), VBS: str(req, "vbs", ""),
			TestSigning: optBool("testSigning"), Debugging: optBool("debugging")},
	}
}

func decodeNetwork(spec map[string]any) *Network {
	n, ok := spec["network"].(map[string]any)
	if !ok {
		return nil
	}
	return &Network{LogicalNetwork: str(n, "logicalNetwork", ""), IPAddress: str(n, "ipAddress", "")}
}

func decodeOSProfile(spec map[string]any) *OSProfile {
	o, ok := spec["osProfile"].(map[string]any)
	if !ok {
		return nil
	}
	p := &OSProfile{ComputerName: str(o, "computerName", ""), AdminUsername: str(o, "adminUsername", "")}
	if pw, ok := o["adminPassword"].(map[string]any); ok {
		p.AdminPassword = &SecretRef{FromEnv: str(pw, "fromEnv", ""), FromFile: str(pw, "fromFile", "")}
	}
	return p
}

func decodeCatalog(doc *document, builtIn bool) (name string, images []CatalogImage) {
	root, _ := doc.value.(map[string]any)
	list, _ := obj(root, "spec")["images"].([]any)
	for i, item := range list {
		m, _ := item.(map[string]any)
		p := doc.pos()
		if _, n, found := locate(doc.node, pointer([]string{"spec", "images", itoa(i)})); found {
			p = Pos{File: doc.file, Line: n.Line, Column: n.Column}
		}
		images = append(images, CatalogImage{
			Image:   Image{Publisher: str(m, "publisher", ""), Offer: str(m, "offer", ""), Sku: str(m, "sku", ""), Version: str(m, "version", "")},
			OS:      str(m, "os", ""),
			BuiltIn: builtIn,
			Pos:     p,
		})
	}
	return str(obj(root, "metadata"), "name", ""), images
}
