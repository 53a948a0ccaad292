// Package elasticsearch is the Elasticsearch implementation of doc.Target:
// a feed's documents live in versioned indexes <alias>_v1, <alias>_v2, …
// behind one alias that readers query, and are written with the bulk API
// under external versioning, so a replayed or reordered write never
// overwrites a newer one.
//
// It talks to Elasticsearch 8 through the official client
// (github.com/elastic/go-elasticsearch/v8, esapi). Every request goes
// through the store's border (circuit breaker, row rate limit) and is
// retried with exponential backoff when it failed for a transient reason:
// HTTP 429, 502, 503, 504, a timeout, a dropped connection. Other failures
// (a 400, a 401, a server that is not Elasticsearch) are returned at once.
//
// Scan reads a generation with a point in time and search_after, sorted on
// the keyword field IDField, which every document carries (the document ID
// again: sorting on _id is disabled in ES 8). Scan returns numbers as
// json.Number, so integers beyond 2^53 and decimals keep their exact text.
package elasticsearch

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/transitdb/transit/border"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sinks/doc"
)

// IDField is the field every document carries with its ID, mapped as
// keyword: Scan sorts on it. Scan removes it from Doc.Fields.
const IDField = "_transit_id"

// Defaults of Config.
const (
	DefaultBulkBytes       = 5 << 20 // 5 MiB per bulk request
	DefaultBulkDocs        = 1000    // documents per bulk request
	DefaultReplicas        = 1
	DefaultRefreshInterval = "1s"
	DefaultPageSize        = 1000
	DefaultRequestTimeout  = 30 * time.Second
	DefaultKeepAlive       = "2m"
)

// Retry is the backoff policy of transient failures (cenkalti/backoff
// exponential backoff with jitter).
type Retry struct {
	Initial    time.Duration // first wait; default 100ms
	Max        time.Duration // longest wait; default 10s
	MaxElapsed time.Duration // give up after this long; default 2m, <0: never
}

// Config is what a Target needs. Either Client or Addresses is set.
type Config struct {
	// Addresses of the cluster's nodes, e.g. "https://es:9200".
	Addresses []string
	// Username and Password for HTTP basic authentication, or APIKey (the
	// base64 "id:key" token, sent as "ApiKey …"; it wins over the user).
	Username, Password string
	APIKey             string
	// Transport, if set, carries the HTTP requests (TLS settings, proxies).
	Transport http.RoundTripper
	// Client is a client built by the caller; Addresses and the auth
	// fields are then ignored. Close does not close it. Its own transport
	// retries should be off (elasticsearch.Config.DisableRetry), since the
	// Target retries under the breaker.
	Client *elasticsearch.Client
	// RequestTimeout bounds one attempt of one request; default 30s.
	RequestTimeout time.Duration

	// Alias readers query; generations are the indexes <Alias>_v<N>.
	Alias string
	// Table describes the documents' fields (the feed's PostgreSQL columns):
	// Write encodes each value by its column's type (json as JSON, numeric
	// as a JSON number, date as "2006-01-02"). Fields not in Table are
	// encoded by their Go type. May be nil.
	Table *record.Table
	// Mapping is the "mappings" body of every new generation; nil:
	// MappingFor(Table, nil). IDField is added as keyword if absent.
	Mapping map[string]any
	// Shards of a new generation; 0: the cluster's default.
	Shards int
	// Replicas a generation gets in Ready; nil: DefaultReplicas (1).
	Replicas *int
	// RefreshInterval a generation gets in Ready; "": DefaultRefreshInterval.
	RefreshInterval string

	// Border regulates the load on the cluster: Write takes one row per
	// document from its rate limiter, and every request goes through its
	// breaker. nil: unlimited, no breaker.
	Border *border.Border
	// BulkBytes and BulkDocs bound one bulk request; defaults 5 MiB and
	// 1000. A document larger than BulkBytes goes alone.
	BulkBytes, BulkDocs int
	// Retry is the backoff policy.
	Retry Retry
	// PageSize is the number of documents per Scan page; default 1000.
	PageSize int
	// Log receives retries and breaker waits; nil: slog.Default().
	Log *slog.Logger
}

// Target is an Elasticsearch alias with its generations. It implements
// doc.Target and is safe for concurrent use.
type Target struct {
	es      *elasticsearch.Client
	cfg     Config
	genRe   *regexp.Regexp
	mapping map[string]any
	types   map[string]record.Type
	log     *slog.Logger
}

var _ doc.Target = (*Target)(nil)

// New checks cfg and builds the Target. It does not contact the cluster.
func New(cfg Config) (*Target, error) {
	if cfg.Alias == "" {
		return nil, errors.New("elasticsearch: the alias is empty")
	}
	if cfg.Alias != strings.ToLower(cfg.Alias) || strings.ContainsAny(cfg.Alias, `\/*?"<>| ,#:`) ||
		strings.HasPrefix(cfg.Alias, "_") || strings.HasPrefix(cfg.Alias, "-") || strings.HasPrefix(cfg.Alias, "+") {
		return nil, fmt.Errorf("elasticsearch: alias %q is not a valid index name (lower case, no \\ / * ? \" < > | , # : or space, not starting with _ - +)", cfg.Alias)
	}
	es := cfg.Client
	if es == nil {
		if len(cfg.Addresses) == 0 {
			return nil, errors.New("elasticsearch: no address given")
		}
		var err error
		es, err = elasticsearch.NewClient(elasticsearch.Config{
			Addresses: cfg.Addresses,
			Username:  cfg.Username,
			Password:  cfg.Password,
			APIKey:    cfg.APIKey,
			Transport: cfg.Transport,
			// The Target retries itself, under the breaker, with backoff,
			// also on 429 (the transport would retry 502/503/504 at once).
			DisableRetry: true,
		})
		if err != nil {
			return nil, fmt.Errorf("elasticsearch: client: %w", err)
		}
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.BulkBytes <= 0 {
		cfg.BulkBytes = DefaultBulkBytes
	}
	if cfg.BulkDocs <= 0 {
		cfg.BulkDocs = DefaultBulkDocs
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.RefreshInterval == "" {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.Replicas == nil {
		r := DefaultReplicas
		cfg.Replicas = &r
	}
	if cfg.Retry.Initial <= 0 {
		cfg.Retry.Initial = 100 * time.Millisecond
	}
	if cfg.Retry.Max <= 0 {
		cfg.Retry.Max = 10 * time.Second
	}
	if cfg.Retry.MaxElapsed == 0 {
		cfg.Retry.MaxElapsed = 2 * time.Minute
	}
	if cfg.Mapping == nil && cfg.Table != nil {
		cfg.Mapping = MappingFor(cfg.Table, nil)
	}
	types := map[string]record.Type{}
	if cfg.Table != nil {
		for _, c := range cfg.Table.Columns {
			types[c.Name] = c.Type
		}
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	return &Target{
		es:      es,
		cfg:     cfg,
		genRe:   regexp.MustCompile(`^` + regexp.QuoteMeta(cfg.Alias) + `_v([0-9]+)$`),
		mapping: withIDField(cfg.Mapping),
		types:   types,
		log:     log.With("alias", cfg.Alias),
	}, nil
}

// Generation is the name of generation n of alias: "<alias>_v<n>".
func Generation(alias string, n int) string { return alias + "_v" + strconv.Itoa(n) }

// GenerationNumber is n of a generation name of t's alias, and whether the
// name is one.
func (t *Target) GenerationNumber(gen string) (int, bool) {
	m := t.genRe.FindStringSubmatch(gen)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

// Alias is the alias readers query.
func (t *Target) Alias() string { return t.cfg.Alias }

// Client is the client the Target uses.
func (t *Target) Client() *elasticsearch.Client { return t.es }

// Close releases nothing: the client holds only idle HTTP connections,
// and a client given in Config belongs to the caller.
func (t *Target) Close() error { return nil }

func (t *Target) checkGen(gen string) error {
	if _, ok := t.GenerationNumber(gen); !ok {
		return fmt.Errorf("elasticsearch: %q is not a generation of alias %q (want %s_v<N>)", gen, t.cfg.Alias, t.cfg.Alias)
	}
	return nil
}

// withIDField copies m and adds IDField as keyword to its properties.
func withIDField(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	props := map[string]any{}
	if p, ok := out["properties"].(map[string]any); ok {
		for k, v := range p {
			props[k] = v
		}
	}
	if _, ok := props[IDField]; !ok {
		props[IDField] = map[string]any{"type": "keyword"}
	}
	out["properties"] = props
	return out
}
