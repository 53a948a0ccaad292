package plan

// This file declares the plan format once. The parser uses it to reject
// unknown keys (and suggest close ones), and JSONSchema is generated from
// it, so the two cannot drift apart.

// valueKind is the shape of a value in the plan file.
type valueKind int

const (
	vString         valueKind = iota // any scalar, taken as text
	vInt                             // an integer
	vBool                            // true or false
	vNumber                          // an integer or a decimal number
	vDuration                        // Go duration text: 5s, 2m, 24h
	vNumberOrText                    // a number, or text such as a date
	vStringList                      // one string or a list of strings
	vList                            // a list of objects (Elem)
	vMap                             // a mapping of names to objects (Elem)
	vStringMap                       // a mapping of names to strings
	vMapOfStringMap                  // a mapping of names to mappings of names to strings
	vObject                          // a nested object (Elem)
	vChecks                          // a list of check items (see checkKinds)
)

// field is one key an object accepts.
type field struct {
	Key      string
	Kind     valueKind
	Elem     *object  // vList, vMap, vObject
	Enum     []string // allowed values, if limited
	Required bool
	Min      *float64 // lowest allowed number
	Doc      string
}

// object is the set of keys one mapping of the plan accepts.
type object struct {
	Name   string // used in messages and as the JSON Schema $defs name
	Doc    string
	Fields []field
	// Short, if set, is the kind of a value given instead of the mapping
	// (check short forms: `not_null: Email`).
	Short *valueKind
}

func (o *object) keys() []string {
	ks := make([]string, len(o.Fields))
	for i, f := range o.Fields {
		ks[i] = f.Key
	}
	return ks
}

func (o *object) field(key string) *field {
	for i := range o.Fields {
		if o.Fields[i].Key == key {
			return &o.Fields[i]
		}
	}
	return nil
}

func num(f float64) *float64 { return &f }

var (
	kindNames     = []string{"postgres", "mysql", "sqlite", "csv", "jsonl", "elasticsearch", "redis"}
	namingNames   = []string{NamingKeep, NamingSnakeCase, NamingLower}
	severityNames = []string{SeverityError, SeverityWarn}
)

var columnRuleSpec = &object{
	Name: "column_rule",
	Doc:  "Overrides the route of one source column.",
	Fields: []field{
		{Key: "to", Kind: vString, Doc: "Target column name. Default: the source name mapped by naming."},
		{Key: "type", Kind: vString, Doc: "Exact target type, e.g. numeric(12,2). Default: derived from the source type."},
		{Key: "drop", Kind: vBool, Doc: "Do not move this column. Default false."},
	},
}

var storeSpec = &object{
	Name: "store",
	Doc:  "A named connection to a store.",
	Fields: []field{
		{Key: "kind", Kind: vString, Enum: kindNames, Required: true, Doc: "The kind of store."},
		{Key: "url", Kind: vString, Doc: "Connection URL of a server (postgres, mysql, elasticsearch, redis)."},
		{Key: "path", Kind: vString, Doc: "File or folder of a file store (sqlite, csv, jsonl)."},
		{Key: "schema", Kind: vString, Doc: "postgres only: the schema tables live in. Default public."},
		{Key: "delimiter", Kind: vString, Doc: "csv only: the field delimiter, one character. Default \",\"."},
		{Key: "header", Kind: vBool, Doc: "csv only: the first line names the columns. Default true."},
		{Key: "columns", Kind: vMapOfStringMap, Doc: "csv and jsonl only: column types by file (table) name. Default: inferred."},
		{Key: "limits", Kind: vObject, Elem: limitsSpec, Doc: "Load regulation: connections, rows per second, throttle, breaker. Default unlimited."},
		{Key: "username", Kind: vString, Doc: "elasticsearch only: basic-auth user; only as ${VAR}. Default none."},
		{Key: "password", Kind: vString, Doc: "elasticsearch only: basic-auth password; only as ${VAR}. Default none."},
		{Key: "api_key", Kind: vString, Doc: "elasticsearch only: API key (instead of username/password); only as ${VAR}. Default none."},
	},
}

var documentsSpec = &object{
	Name: "feed_documents",
	Doc:  "Documents shaped by SQL instead of one row per document.",
	Fields: []field{
		{Key: "query", Kind: vString, Required: true, Doc: "SELECT rendering the documents of the IDs in $1 (an array: WHERE id = ANY($1)); it must return the id columns."},
		{Key: "depends_on", Kind: vStringMap, Doc: "Other tables whose changes re-render a document: table name to the column holding the document's id. Default none."},
	},
}

var feedSpec = &object{
	Name: "feed",
	Doc:  "A PostgreSQL table (or SQL-shaped documents) kept current in an Elasticsearch alias or a Redis keyspace.",
	Fields: []field{
		{Key: "from", Kind: vString, Required: true, Doc: "postgres_store.table to feed from."},
		{Key: "to", Kind: vString, Required: true, Doc: "elasticsearch_store.alias, or a redis store."},
		{Key: "id", Kind: vStringList, Doc: "Document ID columns; composite IDs are joined with ':'. Default: the primary key."},
		{Key: "mapping", Kind: vStringMap, Doc: "elasticsearch only: field type overrides (field: keyword). Default: derived from PostgreSQL types."},
		{Key: "documents", Kind: vObject, Elem: documentsSpec, Doc: "Documents rendered by a query. Default: one document per row."},
		{Key: "key", Kind: vString, Doc: "redis only (required there): key template, e.g. customer:{customer_id}."},
		{Key: "format", Kind: vString, Enum: []string{"hash", "json"}, Doc: "redis only: hash or json. Default hash."},
		{Key: "ttl", Kind: vDuration, Doc: "redis only: key expiry. Default none."},
		{Key: "columns", Kind: vStringList, Doc: "Fields to store. Default all."},
		{Key: "keep", Kind: vInt, Min: num(1), Doc: "Generations kept after a rebuild switches (the current one included). Default 1."},
	},
}

var tableRuleSpec = &object{
	Name: "table_rule",
	Doc:  "Moves every table of a store (from: store.*) or one table (from: store.table).",
	Fields: []field{
		{Key: "from", Kind: vString, Required: true, Doc: "store.* or store.table."},
		{Key: "to", Kind: vString, Required: true, Doc: "store (tables named by naming) or, for one table, store.table."},
		{Key: "exclude", Kind: vStringList, Doc: "Source tables to leave out of a wildcard. Default none."},
		{Key: "create", Kind: vBool, Doc: "Create missing target tables. Default true."},
		{Key: "indexes", Kind: vBool, Doc: "Recreate secondary indexes. Default true."},
		{Key: "foreign_keys", Kind: vBool, Doc: "Recreate foreign keys. Default true."},
		{Key: "batch_size", Kind: vInt, Min: num(1), Doc: "Rows per batch. Default: automatic, 10000 or fewer for wide rows (about 8 MiB per batch)."},
		{Key: "max_rejects", Kind: vInt, Min: num(0), Doc: "Rejected rows tolerated before a run aborts. Default 0."},
	},
}

var entitySpec = &object{
	Name: "entity",
	Doc:  "One routed (or, without to, read-only) table with its overrides and checks.",
	Fields: []field{
		{Key: "from", Kind: vString, Required: true, Doc: "store.table to read."},
		{Key: "to", Kind: vString, Doc: "store.table or store to write. Default: read-only, unless a tables rule covers the source table."},
		{Key: "id", Kind: vStringList, Doc: "Key columns (source names), composite allowed. Default: the primary key."},
		{Key: "version", Kind: vString, Doc: "Catch-up cursor column (source name). Default none."},
		{Key: "lag", Kind: vDuration, Doc: "Catch-up safety lag. Default 5s."},
		{Key: "columns", Kind: vMap, Elem: columnRuleSpec, Doc: "Column overrides by source column name."},
		{Key: "batch_size", Kind: vInt, Min: num(1), Doc: "Rows per batch. Default: the covering tables rule's, else automatic (10000 or fewer for wide rows)."},
		{Key: "max_rejects", Kind: vInt, Min: num(0), Doc: "Rejected rows tolerated before a run aborts. Default 0 (or the covering tables rule's)."},
		{Key: "create", Kind: vBool, Doc: "Create the target table if missing. Default true (or the covering tables rule's)."},
		{Key: "indexes", Kind: vBool, Doc: "Recreate secondary indexes. Default true (or the covering tables rule's)."},
		{Key: "foreign_keys", Kind: vBool, Doc: "Recreate foreign keys. Default true (or the covering tables rule's)."},
		{Key: "checks", Kind: vChecks, Doc: "Data-quality rules for transit audit."},
		{Key: "cutover", Kind: vObject, Elem: cutoverSpec, Doc: "Gate thresholds of transit cutover for this entity, over the plan-level cutover block. Default: the plan's."},
	},
}

var planSpec = &object{
	Name: "plan",
	Doc:  "A transit plan.",
	Fields: []field{
		{Key: "version", Kind: vInt, Enum: []string{"1"}, Required: true, Doc: "Format version; must be 1."},
		{Key: "name", Kind: vString, Required: true, Doc: "Name of the plan."},
		{Key: "naming", Kind: vString, Enum: namingNames, Doc: "How unlisted names map: keep, snake_case or lower. Default keep."},
		{Key: "stores", Kind: vMap, Elem: storeSpec, Required: true, Doc: "Named connections."},
		{Key: "ledger", Kind: vString, Doc: "Postgres store holding transit's own state. Default: the first postgres store."},
		{Key: "tables", Kind: vList, Elem: tableRuleSpec, Doc: "Wildcard and single-table rules."},
		{Key: "entities", Kind: vMap, Elem: entitySpec, Doc: "Entities by name."},
		{Key: "cutover", Kind: vObject, Elem: cutoverSpec, Doc: "Gate thresholds of transit cutover for every entity. Default: max_lag 1h, max_verify_age 24h, max_mismatch_rate 0.001, min_shadow_reads 1000."},
		{Key: "feeds", Kind: vMap, Elem: feedSpec, Doc: "Feeds by name: PostgreSQL data kept current in Elasticsearch or Redis."},
	},
}

// Common keys of every check item, allowed next to the kind key or inside
// the kind's mapping.
var checkCommon = []field{
	{Key: "severity", Kind: vString, Enum: severityNames, Doc: "error or warn. Default error."},
	{Key: "name", Kind: vString, Doc: "Label. Default: derived from kind and columns."},
}

func checkKind(name, doc string, short *valueKind, fs ...field) *object {
	return &object{Name: name, Doc: doc, Short: short, Fields: append(fs, checkCommon...)}
}

var (
	shortColumns = func() *valueKind { k := vStringList; return &k }()
	shortQuery   = func() *valueKind { k := vString; return &k }()
)

// checkKinds lists every check kind with the keys of its long form.
var checkKinds = []*object{
	checkKind(CheckNotNull, "Columns must not be NULL.", shortColumns,
		field{Key: "columns", Kind: vStringList, Required: true}),
	checkKind(CheckUnique, "The column combination must be unique.", shortColumns,
		field{Key: "columns", Kind: vStringList, Required: true}),
	checkKind(CheckReferences, "Values must exist in another table.", nil,
		field{Key: "columns", Kind: vStringList, Required: true},
		field{Key: "to", Kind: vString, Required: true, Doc: "store.table or table (same store as from)."},
		field{Key: "ref_columns", Kind: vStringList, Required: true}),
	checkKind(CheckPattern, "Text must match a regular expression (RE2).", nil,
		field{Key: "column", Kind: vString, Required: true},
		field{Key: "regex", Kind: vString, Required: true}),
	checkKind(CheckRange, "Values must lie within bounds (numbers, or text such as dates).", nil,
		field{Key: "column", Kind: vString, Required: true},
		field{Key: "min", Kind: vNumberOrText},
		field{Key: "max", Kind: vNumberOrText}),
	checkKind(CheckAcceptedValues, "Values must be one of a list.", nil,
		field{Key: "column", Kind: vString, Required: true},
		field{Key: "values", Kind: vStringList, Required: true}),
	checkKind(CheckMaxNullFraction, "At most this fraction of rows may be NULL.", nil,
		field{Key: "column", Kind: vString, Required: true},
		field{Key: "max", Kind: vNumber, Required: true, Min: num(0)}),
	checkKind(CheckRowCount, "The table's row count must lie within bounds.", nil,
		field{Key: "min", Kind: vInt, Min: num(0)},
		field{Key: "max", Kind: vInt, Min: num(0)}),
	checkKind(CheckFreshness, "The newest value of a timestamp column must be recent.", nil,
		field{Key: "column", Kind: vString, Required: true},
		field{Key: "max_age", Kind: vDuration, Required: true}),
	checkKind(CheckSQL, "A query returning the violating rows.", shortQuery,
		field{Key: "query", Kind: vString, Required: true}),
}

func checkKindSpec(name string) *object {
	for _, k := range checkKinds {
		if k.Name == name {
			return k
		}
	}
	return nil
}

// checkItemKeys are the keys a check item mapping may hold: one kind key
// plus the common keys.
func checkItemKeys() []string {
	var ks []string
	for _, k := range checkKinds {
		ks = append(ks, k.Name)
	}
	for _, f := range checkCommon {
		ks = append(ks, f.Key)
	}
	return ks
}
