package arm

import (
	"context"
	"strings"
	"time"
)

// Machine run commands: the channel into a guest (DESIGN §8). The command
// runs when its create operation completes, through Host.RunCommand.

type runCommandProps struct {
	Source *struct {
		Script    string `json:"script"`
		CommandID string `json:"commandId"`
	} `json:"source"`
	Parameters []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"parameters"`
	TimeoutInSeconds int `json:"timeoutInSeconds"`
}

func validateRunCommand(s *Server, c *call, res *resource, _ *record) *armError {
	var p runCommandProps
	if err := decodeProps(res.Properties, &p); err != nil {
		return err
	}
	if p.Source == nil || (p.Source.Script == "" && p.Source.CommandID == "") {
		return badRequest("InvalidParameter", "properties.source.script or properties.source.commandId is required")
	}
	if _, err := s.vmOfMachine(c.parentID()); err != nil {
		return err
	}
	delete(res.Properties, "runAsPassword") // secrets are never stored or returned
	delete(res.Properties, "protectedParameters")
	return nil
}

// vmOfMachine is the cluster VM ID of the machine's instance, or a 409 when
// the machine has no VM to run a command in.
func (s *Server) vmOfMachine(machineID string) (string, *armError) {
	vmi, err := s.store.get(machineID + "/providers/" + kindVMI.typ + "/default")
	if err != nil {
		return "", asARM(err)
	}
	if vmi != nil {
		if id, _ := vmi.Resource.Properties["vmId"].(string); id != "" {
			return id, nil
		}
	}
	return "", conflict("the Arc machine %s has no virtual machine instance on the cluster to run a command in: create one first", machineID)
}

func finishRunCommand(ctx context.Context, s *Server, rec *record, op *operation) error {
	var p runCommandProps
	if err := decodeProps(rec.Resource.Properties, &p); err != nil {
		return err
	}
	machineID := rec.Resource.ID[:strings.LastIndex(strings.ToLower(rec.Resource.ID), "/runcommands/")]
	vmID, aerr := s.vmOfMachine(machineID)
	if aerr != nil {
		return aerr
	}
	req := RunCommandRequest{MachineID: machineID, VMID: vmID, Name: rec.Resource.Name,
		Script: p.Source.Script, CommandID: p.Source.CommandID, Parameters: map[string]string{}, TimeoutSeconds: p.TimeoutInSeconds}
	for _, prm := range p.Parameters {
		req.Parameters[prm.Name] = prm.Value
	}
	start := time.Now().UTC()
	res, err := s.host.RunCommand(ctx, req)
	if err != nil {
		return err
	}
	state := "Succeeded"
	if res.ExitCode != 0 {
		state = "Failed"
	}
	if op != nil && op.OutputLimit > 0 && len(res.Output) > op.OutputLimit {
		res.Output = res.Output[len(res.Output)-op.OutputLimit:]
	}
	rec.Resource.Properties["instanceView"] = map[string]any{
		"executionState": state, "exitCode": res.ExitCode, "output": res.Output, "error": res.Error,
		"startTime": start, "endTime": time.Now().UTC(),
	}
	return nil
}
