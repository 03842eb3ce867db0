package apply_test

import (
	"context"
	"fmt"

	"github.com/tlreconcile/tlreconcile/internal/apply"
	"github.com/tlreconcile/tlreconcile/internal/drivers"
)

// A plan holding a destructive step is refused before anything runs.
func ExampleCheck() {
	p := updatePlan("avd-01")
	p.Changes[0].Steps[2].Destructive = true
	fmt.Println(apply.Check(p, false))
	fmt.Println(apply.Check(p, true))
	// Output:
	// vm/avd-01/ensure-key-protector is destructive: nothing was applied; re-run with --allow-destructive if you mean it (vTPM secrets such as BitLocker keys are lost)
	// <nil>
}

// Run returns what happened per resource, also when a step fails: here the
// Secure Boot change fails for good, so the VM the plan stopped is started again.
func ExampleRun() {
	d := newRec(runningVM("avd-01"), runningVM("avd-02"))
	d.fail["set-secure-boot avd-01"] = -1
	d.perm["set-secure-boot avd-01"] = true
	rep, err := apply.Run(context.Background(), updatePlan("avd-01", "avd-02"), map[string]drivers.Driver{"c1": d}, apply.Options{Parallelism: 1})
	fmt.Println(rep.Result("vm/avd-01").Power)
	for _, r := range rep.Resources {
		fmt.Println(r.Resource, r.Status, r.Power != "")
	}
	fmt.Println(err)
	// Output:
	// started again: the plan had stopped it and a later step did not complete
	// vm/avd-01 failed true
	// vm/avd-02 succeeded false
	// apply: 1 resource(s) failed (vm/avd-01): fix the cause shown for each and re-run apply
}
