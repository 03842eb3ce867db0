package spec

import (
	"fmt"
	"slices"
	"strings"
)

// Trusted-launch rules beyond the schema. Each diagnostic says what to do.

func (l *loader) at(doc *docRef, c cited, sev Severity, rule, msg string) {
	p := doc.at(c)
	*l.diags = append(*l.diags, Diagnostic{Severity: sev, Rule: rule, File: p.File, Line: p.Line, Column: p.Column, Path: c.pointer(), Message: msg})
}

func where(doc *docRef, c cited) string {
	p := doc.at(c)
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// checkDuplicates reports every document whose kind and name another document
// also uses, at both places.
func (l *loader) checkDuplicates() {
	type named struct {
		name string
		doc  *docRef
	}
	check := func(kind string, items []named) {
		byName := map[string][]*docRef{}
		var order []string
		for _, it := range items {
			if _, seen := byName[it.name]; !seen {
				order = append(order, it.name)
			}
			byName[it.name] = append(byName[it.name], it.doc)
		}
		for _, name := range order {
			docs := byName[name]
			if len(docs) < 2 {
				continue
			}
			for i, doc := range docs {
				other := docs[0]
				if i == 0 {
					other = docs[1]
				}
				l.at(doc, citeMetadataName, SeverityError, RuleDuplicateName,
					fmt.Sprintf("%s name %q is also declared at %s; names must be unique across all files, so rename or remove one of them", kind, name, where(other, citeMetadataName)))
			}
		}
	}
	var cs, vs, ic []named
	for _, c := range l.clusters {
		cs = append(cs, named{c.Name, c.doc})
	}
	for i := range l.vms {
		vs = append(vs, named{l.vms[i].Name, l.vmRefs[i]})
	}
	for _, c := range l.catalogs {
		ic = append(ic, named{c.name, c.doc})
	}
	check("Cluster", cs)
	check("TrustedLaunchVM", vs)
	check("ImageCatalog", ic)
}

func (l *loader) checkCluster(c *clusterDoc) {
	if c.LiveMigration.Encryption == "none" {
		l.at(c.doc, citeLiveMigrationEncryption, SeverityWarning, RuleLiveMigrationPlain,
			"live-migration traffic is not encrypted, and network-layer encryption such as IPsec is strongly recommended; set liveMigration.encryption: ipsec unless the migration network is otherwise protected")
	}
	if c.IgvmAgent == "ignore" {
		l.at(c.doc, citeIgvmAgent, SeverityWarning, RuleIgvmAgentIgnored,
			"igvmAgent: ignore turns off the IGVmAgent check, but every node needs the IGVmAgent service for vTPM state transfer (a VM that moves to a node without it cannot unlock its vTPM); remove the field to use the default, required")
	}
	l.checkClusteredPath(c)
	if c.VMFileAccess == "ignore" {
		l.at(c.doc, citeVMFileAccess, SeverityWarning, RuleVMFileAccessIgnored,
			"vmFileAccess: ignore turns off the file-access check, but VM state files hold the vTPM and must stay restricted to host administrators; remove the field to use the default, hostAdminsOnly")
	}
}

func (l *loader) checkVM(v vmDoc, clusters map[string]*clusterDoc, catalog []CatalogImage) {
	doc := v.doc
	// Cluster reference.
	var cluster *clusterDoc
	switch {
	case v.Cluster != "":
		cluster = clusters[v.Cluster]
		if cluster == nil && !l.brokenClusters[v.Cluster] {
			l.at(doc, citeMetadataCluster, SeverityError, RuleUnknownCluster,
				fmt.Sprintf("cluster %q is not declared in any file; %s", v.Cluster, declareHint(l.clusterNames())))
		}
	case len(l.clusters) == 1 && len(l.brokenClusters) == 0:
		cluster = &l.clusters[0]
		v.Cluster = cluster.Name
	case len(l.clusters) == 0 && len(l.brokenClusters) > 0:
		// the only clusters are invalid and reported already
	default:
		l.at(doc, citeMetadata, SeverityError, RuleMissingCluster,
			"metadata.cluster is required unless exactly one Cluster is declared; "+declareHint(l.clusterNames()))
	}
	if cluster != nil && v.Placement.Node != "" && !slices.Contains(cluster.Nodes, v.Placement.Node) {
		l.at(doc, citePlacementNode, SeverityError, RuleUnknownNode,
			fmt.Sprintf("node %q is not a node of cluster %q (nodes: %s); use one of them, or add it to the cluster's spec.nodes", v.Placement.Node, cluster.Name, strings.Join(cluster.Nodes, ", ")))
	}

	// Image and Secure Boot template.
	img, found := findImage(catalog, v.Image)
	if !found {
		l.imageNotSupported(v, catalog)
	}
	if v.SecurityType == SecurityTrustedLaunch {
		if !v.SecureBoot.Enabled {
			l.at(doc, citeSecureBootEnabled, SeverityError, RuleTLNeedsSBAndVTPM,
				"securityType TrustedLaunch needs Secure Boot: SecureBootEnabled must be true for trusted launch to function; set secureBoot.enabled: true (or securityType: Standard)")
		}
		if !v.VTPM.Enabled {
			l.at(doc, citeVTPMEnabled, SeverityError, RuleTLNeedsSBAndVTPM,
				"securityType TrustedLaunch needs the vTPM: EnableTPM must be true for trusted launch to function; set vtpm.enabled: true (or securityType: Standard)")
		}
	}
	if found && v.SecureBoot.Enabled && !templateFits(img.OS, v.SecureBoot.Template) {
		l.at(doc, citeSecureBootTemplate, SeverityError, RuleTemplateMismatch,
			fmt.Sprintf("Secure Boot template %s does not fit the %s image %s; use %s", v.SecureBoot.Template, img.OS, img.Image, strings.Join(templatesFor(img.OS), " or ")))
	}
	if cluster != nil {
		l.checkAttestationIdentity(v, cluster)
	}
	if v.BootIntegrityVerification {
		l.at(doc, citeBootIntegrity, SeverityError, RuleBootIntegrity,
			"guest boot integrity verification is not available from the platform on Azure Local; remove bootIntegrityVerification and declare spec.attestation (tlreconcile's own guest attestation: attestation: {require: {secureBoot: true}}) instead")
	}
}

func (l *loader) clusterNames() []string {
	var names []string
	for _, c := range l.clusters {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func declareHint(names []string) string {
	if len(names) == 0 {
		return "declare a Cluster document (kind: Cluster) and pass its file with -f too"
	}
	return "set metadata.cluster to one of the declared clusters: " + strings.Join(names, ", ")
}

// templatesFor lists the Secure Boot templates that boot an OS family.
func templatesFor(os string) []string {
	if os == "linux" {
		return []string{TemplateMicrosoftUEFICA, TemplateOpenSourceShieldedVM}
	}
	return []string{TemplateMicrosoftWindows}
}

func templateFits(os, template string) bool { return slices.Contains(templatesFor(os), template) }

func (img Image) String() string {
	return img.Publisher + " / " + img.Offer + " / " + img.Sku + " / " + img.Version
}

func (c CatalogImage) key() string {
	return strings.ToLower(c.Publisher + "\x00" + c.Offer + "\x00" + c.Sku + "\x00" + c.Version)
}

// findImage looks an image up; Azure compares publisher, offer and sku case-insensitively.
func findImage(catalog []CatalogImage, img Image) (CatalogImage, bool) {
	for _, c := range catalog {
		if strings.EqualFold(c.Publisher, img.Publisher) && strings.EqualFold(c.Offer, img.Offer) &&
			strings.EqualFold(c.Sku, img.Sku) && strings.EqualFold(c.Version, img.Version) {
			return c, true
		}
	}
	return CatalogImage{}, false
}

// imageNotSupported names the nearest catalog image and the first field that differs from it.
func (l *loader) imageNotSupported(v vmDoc, catalog []CatalogImage) {
	if len(catalog) == 0 {
		l.at(v.doc, citeImage, SeverityError, RuleImageNotSupported, "image catalog is empty; the binary is broken, rebuild it")
		return
	}
	fields := func(i Image) [4]string { return [4]string{i.Publisher, i.Offer, i.Sku, i.Version} }
	names := [4]string{"publisher", "offer", "sku", "version"}
	cites := [4]cited{citeImagePublisher, citeImageOffer, citeImageSku, citeImageVersion}
	want := fields(v.Image)
	best, bestScore := catalog[0], -1<<30
	for _, c := range catalog {
		have := fields(c.Image)
		score := 0
		for i := range have {
			if strings.EqualFold(have[i], want[i]) {
				score += 1000 >> i // earlier fields weigh more: same offer beats same version
			} else {
				score -= editDistance(strings.ToLower(have[i]), strings.ToLower(want[i]))
			}
		}
		if score > bestScore {
			best, bestScore = c, score
		}
	}
	have := fields(best.Image)
	var differ []string
	first := citeImage
	for i := range have {
		if !strings.EqualFold(have[i], want[i]) {
			differ = append(differ, fmt.Sprintf("%s is %q, not %q", names[i], want[i], have[i]))
			if first == citeImage {
				first = cites[i]
			}
		}
	}
	where := "built-in catalog"
	if !best.BuiltIn {
		where = "catalog"
	}
	l.at(v.doc, first, SeverityError, RuleImageNotSupported,
		fmt.Sprintf("image %s is not a supported image: %s as in the nearest supported image %s of the %s; use a supported image, or add this one with an ImageCatalog document (images from outside Azure Marketplace are not supported)",
			v.Image, strings.Join(differ, ", "), best.Image, where))
}

// checkClusteredPath: a hyperv cluster whose VMs become cluster roles
// (options.clustered, default when it has more than one node) must put them
// checkAttestationIdentity warns when a VM asks for attestation on an azurelocal cluster that
// does not read vTPM identities from the guests (options.guestAgent false, the default): the
// agent the attestation runs is the one that reads the identity, and without the recorded
// identity the attestation cannot pin the EK it verified (an agent replaced by one over another
// TPM would pass as a new first contact) and a lost vTPM goes unnoticed.
func (l *loader) checkAttestationIdentity(v vmDoc, c *clusterDoc) {
	if c.Driver != "azurelocal" || v.Attestation == nil || !v.Attestation.Enabled {
		return
	}
	if on, _ := c.Options["guestAgent"].(bool); on {
		return
	}
	l.at(v.doc, citeAttestation, SeverityWarning, RuleAttestationUnpinned,
		fmt.Sprintf("cluster %q does not read vTPM identities from its guests (options.guestAgent is not true), so this VM's attestation cannot pin the EK it verified and a lost vTPM goes unnoticed; the guest agent spec.attestation runs is the one that reads the identity: set options.guestAgent: true on the cluster", c.Name))
}

// on cluster storage (a Cluster Shared Volume under C:\ClusterStorage\):
// a role on a node's local disk cannot fail over.
func (l *loader) checkClusteredPath(c *clusterDoc) {
	if c.Driver != "hyperv" {
		return
	}
	clustered := len(c.Nodes) > 1
	if v, ok := c.Options["clustered"].(bool); ok {
		clustered = v
	}
	path, _ := c.Options["vmPath"].(string)
	if !clustered || strings.HasPrefix(strings.ToLower(path), `c:\clusterstorage\`) {
		return
	}
	msg := "options.vmPath is not set, so VMs would go to each host's default (local) path"
	if path != "" {
		msg = fmt.Sprintf("options.vmPath %q is not on cluster storage", path)
	}
	l.at(c.doc, citeOptionsVMPath, SeverityError, RuleClusteredLocalPath,
		msg+", but the VMs are made cluster roles (options.clustered, the default for more than one node) and a role on local storage cannot fail over; set vmPath to a Cluster Shared Volume, e.g. C:\\ClusterStorage\\Volume1\\VMs, or clustered: false")
}
