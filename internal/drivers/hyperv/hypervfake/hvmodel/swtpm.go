package hvmodel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/tlreconcile/tlreconcile/internal/vtpm"
)

// swtpmParallel bounds how many swtpm processes one observe runs at a time.
const swtpmParallel = 4

func swtpmAvailable() error { return vtpm.SwtpmAvailable() }

// swtpmManufacture replaces the state directory with a freshly manufactured
// vTPM (a new endorsement seed), encrypted with key.
func (d *Driver) swtpmManufacture(ctx context.Context, dir string, key []byte) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("swtpm: wipe %s: %w", dir, err)
	}
	p, err := vtpm.StartSwtpm(ctx, dir, key)
	if err != nil {
		return fmt.Errorf("swtpm: manufacture vTPM: %w", err)
	}
	if err := p.Close(); err != nil {
		return fmt.Errorf("swtpm: manufacture vTPM: %w", err)
	}
	return nil
}

// swtpmIdentities starts the swtpm of each missed VM to read its EK. swtpm
// rewrites its state files when it runs, so each read holds the VM's lock and
// caches the identity under the content hash from before and after the run.
func (d *Driver) swtpmIdentities(ctx context.Context, c *cluster, jobs []*identityJob) error {
	sem := make(chan struct{}, swtpmParallel)
	var wg sync.WaitGroup
	errs := make([]error, len(jobs))
	for i, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = d.swtpmIdentity(ctx, c, j)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (d *Driver) swtpmIdentity(ctx context.Context, c *cluster, j *identityJob) error {
	l, err := lock(c.vmLock(j.vm.Name))
	if err != nil {
		return err
	}
	defer l.unlock()
	// Re-read under the lock: the VM may have moved or been reset meanwhile.
	vm, err := c.readVM(j.vm.Name)
	if err != nil || vm.ID != j.vm.ID {
		return nil // gone or replaced: unknown
	}
	var out string
	job, err := d.prepareIdentity(c, vm, &out)
	if err != nil {
		return fmt.Errorf("vm/%s: %w", vm.Name, err)
	}
	if job == nil || job.done {
		*j.out = out
		return nil
	}
	if _, err := unsealGuest(job.data, vm.ID, job.key); errors.Is(err, errLocked) || errors.Is(err, errDamaged) {
		return nil // unknown: start-vm and stop-vm say why
	} else if err != nil {
		return fmt.Errorf("vm/%s: %w", vm.Name, err)
	}
	dir := c.swtpmDir(vm.Node, vm.Name)
	if _, err := os.Stat(dir); err != nil {
		return nil // no vTPM state on this node: unknown
	}
	p, err := vtpm.StartSwtpm(ctx, dir, job.key)
	if errors.Is(err, vtpm.ErrStateKey) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("vm/%s: start its vTPM: %w", vm.Name, err)
	}
	fp, err := vtpm.EKFingerprint(p.TPM(), vtpm.ECC)
	if cerr := p.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("vm/%s: read vTPM identity: %w", vm.Name, err)
	}
	d.cachePut(c, job.hash, job.key, fp)
	if after, err := c.contentHash(vm, job.data); err == nil && after != job.hash {
		d.cachePut(c, after, job.key, fp)
		j.alt = after
	}
	*j.out = fp
	return nil
}
