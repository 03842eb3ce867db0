package azurelocal

import (
	"context"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// TestCreateListsImagesOnce: creates on one connection list the gallery
// images once; when the remembered image is deleted behind the driver's
// back, the create that finds out fails, and the next one lists again and
// downloads the image anew.
func TestCreateListsImagesOnce(t *testing.T) {
	p := newPerfPlatform(t, nil)
	ctx := context.Background()
	p.apply(tlCreate("avd-a")) // lists, then downloads the image
	p.count.reset()
	p.apply(tlCreate("avd-b"))
	p.apply(tlCreate("avd-c"))
	if n := p.requests("GET marketplacegalleryimages"); n != 0 {
		t.Fatalf("two more creates read the gallery images %d times, want 0", n)
	}
	cl, err := p.d.connect(ctx, p.ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"avd-a", "avd-b", "avd-c"} {
		p.apply(drivers.Op{Kind: drivers.OpDeleteVM, VM: n})
	}
	image := imageName(*tlCreate("x").Params.Image)
	resp, err := cl.arm.do(ctx, http.MethodDelete, cl.arm.hciPath("marketplaceGalleryImages", image), nil, http.StatusOK, http.StatusAccepted, http.StatusNoContent)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusNoContent {
		_ = decode(resp, nil)
	} else if _, err := wait[struct{}](ctx, cl.arm, resp, runtime.FinalStateViaAzureAsyncOp); err != nil {
		t.Fatal(err)
	}
	op := tlCreate("avd-d")
	op.Cluster = p.ref.Name
	if _, err := p.d.Apply(ctx, p.ref, op); err == nil {
		t.Fatal("a create with a deleted image succeeded")
	}
	if r := p.apply(tlCreate("avd-d")); !r.Changed {
		t.Fatalf("the create after it: %+v", r)
	}
	if vm := observeOn(t, p.d, p.ref)["avd-d"]; vm.ID == "" || !vm.TPMEnabled {
		t.Fatalf("avd-d: %+v", vm)
	}
}
