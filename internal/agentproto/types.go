package agentproto

import "time"

// Listing is List's reply (JSON): the ledger as the caller may see it, with
// what is observed running. Fields may be added, never renamed.
type Listing struct {
	Schema  int            `json:"schema"`
	All     bool           `json:"all"`
	Entries []ListingEntry `json:"entries"`
}

// ListingEntry is one ledger entry in a Listing. Its JSON is the agent's
// ledger entry (policy.Entry) with "running" added.
type ListingEntry struct {
	Name    string    `json:"name"`
	UID     uint32    `json:"uid"`
	User    string    `json:"user"`
	CPUs    float64   `json:"cpus"`
	Memory  int64     `json:"memory"`
	Created time.Time `json:"created"`
	// Reserved is when the live reservation, if any, was admitted.
	Reserved time.Time `json:"reserved,omitzero"`
	// SeenRunning is set once the agent has seen the container running.
	SeenRunning bool `json:"seen_running,omitzero"`
	// Confirmed is when the owner's CLI reported the quadlet files written.
	Confirmed time.Time `json:"confirmed,omitzero"`
	Running   bool      `json:"running"`
}

// Observed is Repair's input (JSON): every devbox container on the host, as
// an admin's scan of every user's quadlet directory found it
// (`devbox-quadlet ledger`). Fields may be added, never renamed.
type Observed struct {
	Schema int `json:"schema"`
	// Scanned is when the scan began. Entries created or confirmed after
	// it are kept: the scan cannot have seen them.
	Scanned    time.Time           `json:"scanned,omitzero"`
	Containers []ObservedContainer `json:"containers"`
}

// ObservedContainer is one container file found by the scan.
type ObservedContainer struct {
	Name    string    `json:"name"`
	UID     uint32    `json:"uid"`
	User    string    `json:"user"`
	CPUs    float64   `json:"cpus"`
	Memory  int64     `json:"memory"`
	Created time.Time `json:"created"`
}

// RepairReport is Repair's reply (JSON). Fields may be added, never renamed.
type RepairReport struct {
	Schema int  `json:"schema"`
	DryRun bool `json:"dry_run"`
	// Rebuilt is set when the ledger file could not be read and was (or,
	// in a dry run, would be) moved aside and rebuilt from the scan.
	Rebuilt bool `json:"rebuilt"`
	// MovedTo is where the unreadable ledger went.
	MovedTo string         `json:"moved_to,omitempty"`
	Removed []RepairChange `json:"removed"`
	Added   []RepairChange `json:"added"`
	// Skipped are containers found that could not be added: their name
	// is held by another user's entry.
	Skipped []RepairChange `json:"skipped"`
	// Kept is how many entries stay as they were.
	Kept int `json:"kept"`
}

// RepairChange is one entry Repair removed, added or skipped, and why.
type RepairChange struct {
	Name string `json:"name"`
	User string `json:"user"`
	Why  string `json:"why"`
}
