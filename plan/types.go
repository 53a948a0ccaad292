// Package plan reads, checks and describes a transit plan: the YAML file
// that says which stores exist, which entities move from where to where,
// and which data-quality checks apply.
//
// Parsing is strict (an unknown key is an error) and every error carries the
// file, line and column it is about. ${VAR} and ${VAR:-default} are taken
// from the environment; secrets never appear in printed output.
package plan

import "time"

// Naming values.
const (
	NamingKeep      = "keep"       // target names equal source names
	NamingSnakeCase = "snake_case" // InvoiceLine -> invoice_line
	NamingLower     = "lower"      // InvoiceLine -> invoiceline
)

// Check severities.
const (
	SeverityError = "error" // a failed check fails the audit (exit code 1)
	SeverityWarn  = "warn"  // a failed check is reported only
)

// Check kinds.
const (
	CheckNotNull         = "not_null"
	CheckUnique          = "unique"
	CheckReferences      = "references"
	CheckPattern         = "pattern"
	CheckRange           = "range"
	CheckAcceptedValues  = "accepted_values"
	CheckMaxNullFraction = "max_null_fraction"
	CheckRowCount        = "row_count"
	CheckFreshness       = "freshness"
	CheckSQL             = "sql"
)

// Defaults filled in by Parse.
const (
	// DefaultBatchSize is the most rows per batch when the plan sets none;
	// the engine takes fewer for wide rows (port.AutoBatchSize).
	DefaultBatchSize = 10000
	DefaultLag       = 5 * time.Second
	DefaultSchema    = "public"
	DefaultDelimiter = ","
)

// Pos is a position in the plan file.
type Pos struct {
	File   string
	Line   int
	Column int
}

// Plan is a parsed, interpolated and statically validated plan.
// Wildcards in Tables are expanded later, against the live stores.
type Plan struct {
	Version  int    // format version; required, always 1
	Name     string // required
	Naming   string // keep | snake_case | lower (default keep)
	Stores   []*Store
	Ledger   string // store name; default: the first postgres store ("" if none and nothing is written)
	Tables   []*TableRule
	Entities []*Entity // explicit entities in file order; `transit plan show` appends expanded ones
	Cutover  *Cutover  // plan-level gate thresholds for every entity; nil: defaults (see CutoverFor)
	Feeds    []*Feed   // in file order
	Pos      Pos
	// Source is the file the plan came from; Hash is a digest of its
	// interpolated content, used to tell plan versions apart: the sha256
	// (hex) of the canonical WriteYAML output at parse time, so comments,
	// layout, passwords in URLs and cutover thresholds do not change it;
	// other content does.
	Source string
	Hash   string

	// LedgerDefaulted: Ledger was not given; it is the default.
	LedgerDefaulted bool
}

// Store is a named connection.
type Store struct {
	Name   string
	Kind   string // postgres | mysql | sqlite | csv | jsonl | elasticsearch | redis
	URL    string // servers
	Path   string // files (sqlite, csv, jsonl): a file or a folder
	Schema string // postgres: target schema (default public)
	// CSV options
	Delimiter string // default ","
	Header    *bool  // default true
	// Columns declares column types for csv/jsonl ("name": "int", ...) by
	// file (table) name; inferred when absent.
	Columns map[string]map[string]string
	// Limits regulate transit's load on the store; nil is unlimited.
	Limits *Limits
	// Elasticsearch credentials, interpolated from the environment (the
	// plan may give them only as ${VAR}). *Ref keep the text as written
	// (e.g. "${ES_PASSWORD}"), which plan show prints instead of the value.
	Username, Password, APIKey          string
	UsernameRef, PasswordRef, APIKeyRef string
	Pos                                 Pos
}

// TableRule moves every table of a store (From "legacy.*") or one table
// ("legacy.Album") to a target store, with defaults filled in.
type TableRule struct {
	From        string // "store.*" or "store.table"
	To          string // "store" (target table named by Naming) or "store.table"
	Exclude     []string
	Create      bool // default true
	Indexes     bool // recreate secondary indexes; default true
	ForeignKeys bool // recreate foreign keys; default true
	BatchSize   int  // 0: automatic (see Entity.BatchSize)
	MaxRejects  int  // default 0
	Pos         Pos
}

// Entity is one routed table (or collection) with its overrides.
type Entity struct {
	Name        string
	FromStore   string
	FromTable   string
	ToStore     string
	ToTable     string
	ID          []string               // key columns, source names; empty = the source's primary key
	Version     string                 // optional catch-up cursor column (source name)
	Columns     map[string]*ColumnRule // by source column name
	BatchSize   int                    // 0: automatic, up to DefaultBatchSize by row width (port.AutoBatchSize)
	MaxRejects  int                    // default 0
	Create      bool                   // default true
	Indexes     bool                   // default true
	ForeignKeys bool                   // default true
	Lag         time.Duration          // catch-up safety lag; default 5s
	Checks      []*Check
	Cutover     *Cutover // this entity's gate thresholds, over the plan's (see Plan.CutoverFor)
	Pos         Pos
	// FromRule is set when the entity came from a tables: wildcard.
	FromRule *TableRule
	// Overrides is set when an explicit entity reads a source table that a
	// tables: rule also covers. The entity wins: wildcard expansion must
	// skip that table (see Plan.EntityFor), and settings the entity leaves
	// out (to, batch_size, max_rejects, create, indexes, foreign_keys) are
	// taken from the rule. Nil otherwise.
	Overrides *TableRule
}

// ColumnRule overrides one source column's route.
type ColumnRule struct {
	To   string // target column name
	Type string // exact target type, e.g. "numeric(12,2)"
	Drop bool
	Pos  Pos
}

// Check is one data-quality rule of an entity (used by transit audit).
type Check struct {
	Kind     string   // not_null | unique | references | pattern | range | accepted_values | max_null_fraction | row_count | freshness | sql
	Severity string   // error | warn (default error)
	Columns  []string // not_null, unique (composite), references (local columns), pattern, range, accepted_values, max_null_fraction, freshness
	// references: Ref is "store.table" or "table" (same store), RefColumns the referenced columns.
	Ref              string
	RefColumns       []string
	Pattern          string        // pattern (RE2 syntax)
	Min, Max         *float64      // range, row_count
	MinText, MaxText string        // range on dates/text, as written
	Values           []string      // accepted_values
	Fraction         float64       // max_null_fraction
	MaxAge           time.Duration // freshness
	SQL              string        // sql: a query returning the violating rows
	Name             string        // optional label; default derived from kind and columns
	Pos              Pos
}

// Feed formats of a Redis feed.
const (
	FeedFormatHash = "hash"
	FeedFormatJSON = "json"
)

// Feed is one derived copy of PostgreSQL data in an Elasticsearch alias or
// a Redis keyspace, kept current from logical replication.
type Feed struct {
	Name      string
	FromStore string // a postgres store
	FromTable string
	ToStore   string // an elasticsearch or redis store
	ToAlias   string // elasticsearch: the alias readers use; "" for redis
	ID        []string
	Mapping   map[string]string // elasticsearch field type overrides
	Documents *Documents        // nil: one document per row of FromTable
	Key       string            // redis key template
	Format    string            // redis: hash | json (default hash)
	TTL       time.Duration     // redis: 0 = no expiry
	Columns   []string          // fields stored; empty = all
	Keep      int               // generations kept after a switch; default 1
	Pos       Pos
}

// Documents are documents rendered by SQL for a batch of IDs.
type Documents struct {
	Query string // uses $1, an array of IDs
	// DependsOn maps another table to the column of it holding the
	// document ID: a change there re-renders that document.
	DependsOn map[string]string
	Pos       Pos
}
