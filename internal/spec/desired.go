package spec

// Cluster returns the named cluster, or nil.
func (d *Desired) Cluster(name string) *Cluster {
	if d == nil {
		return nil
	}
	for i := range d.Clusters {
		if d.Clusters[i].Name == name {
			return &d.Clusters[i]
		}
	}
	return nil
}

// VMsOf returns the VMs declared for one cluster, in name order.
func (d *Desired) VMsOf(cluster string) []VM {
	if d == nil {
		return nil
	}
	var out []VM
	for _, v := range d.VMs {
		if v.Cluster == cluster {
			out = append(out, v)
		}
	}
	return out
}

// CatalogImage returns the catalog entry of img (matched like Azure does,
// case-insensitively); BuiltIn false means "outside the built-in support list".
func (d *Desired) CatalogImage(img Image) (CatalogImage, bool) {
	if d == nil {
		return CatalogImage{}, false
	}
	return findImage(d.Catalog, img)
}
