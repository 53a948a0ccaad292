package transition

// GateResult is the outcome of one gate of a step forward.
type GateResult struct {
	Name   string `json:"name"` // lag | verify | shadow | audit | rejects
	Passed bool   `json:"passed"`
	Value  string `json:"value"`  // what the ledger says
	Limit  string `json:"limit"`  // the threshold from the plan
	Detail string `json:"detail"` // why it failed, or what it means
}
