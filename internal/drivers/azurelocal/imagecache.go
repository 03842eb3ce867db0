package azurelocal

import (
	"strings"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// create-vm needs the cluster's gallery image of the VM's image; listing the
// resource group's images for every create is a round trip (a page each) per
// VM, so a connection remembers the image IDs it found or created. A
// remembered image that is gone since (deleted in the portal) fails the VM
// instance's PUT; that create forgets it, and the next create lists again.

func imageCacheKey(im drivers.Image) string {
	return strings.ToLower(im.Publisher + "\x00" + im.Offer + "\x00" + im.Sku)
}

func (p *perfState) image(im drivers.Image) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, ok := p.images[imageCacheKey(im)]
	return id, ok
}

func (p *perfState) rememberImage(im drivers.Image, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.images == nil {
		p.images = map[string]string{}
	}
	p.images[imageCacheKey(im)] = id
}

func (p *perfState) forgetImage(im drivers.Image) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.images, imageCacheKey(im))
}
