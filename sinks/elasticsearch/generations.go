package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// Current names the index the alias points at ("" when the alias does not
// exist yet).
func (t *Target) Current(ctx context.Context) (string, error) {
	status, body, err := t.call(ctx, "get alias "+t.cfg.Alias, func() esapi.Request {
		return esapi.IndicesGetAliasRequest{Name: []string{t.cfg.Alias}}
	}, http.StatusNotFound)
	if err != nil {
		return "", err
	}
	if status == http.StatusNotFound {
		return "", nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return "", fmt.Errorf("elasticsearch get alias %s: decode the answer: %w", t.cfg.Alias, err)
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	switch len(names) {
	case 0:
		return "", nil
	case 1:
		return names[0], nil
	}
	return "", fmt.Errorf("elasticsearch: alias %s points at %d indexes %v; transit keeps it on one", t.cfg.Alias, len(names), names)
}

// Generations lists the indexes <alias>_v<N>, oldest (lowest N) first.
func (t *Target) Generations(ctx context.Context) ([]string, error) {
	pattern := t.cfg.Alias + "_v*"
	_, body, err := t.call(ctx, "list indexes "+pattern, func() esapi.Request {
		return esapi.CatIndicesRequest{Index: []string{pattern}, Format: "json", H: []string{"index"}}
	})
	if err != nil {
		return nil, err
	}
	var rows []struct {
		Index string `json:"index"`
	}
	if err := json.Unmarshal(body, &rows); err != nil {
		return nil, fmt.Errorf("elasticsearch list indexes %s: decode the answer: %w", pattern, err)
	}
	type gen struct {
		name string
		n    int
	}
	var gens []gen
	for _, r := range rows {
		if n, ok := t.GenerationNumber(r.Index); ok {
			gens = append(gens, gen{r.Index, n})
		}
	}
	slices.SortFunc(gens, func(a, b gen) int { return a.n - b.n })
	out := make([]string, len(gens))
	for i, g := range gens {
		out[i] = g.name
	}
	return out, nil
}

// Create makes index gen for a bulk load: no replicas, refresh off, the
// mapping. An existing gen is left as it is.
func (t *Target) Create(ctx context.Context, gen string) error {
	if err := t.checkGen(gen); err != nil {
		return err
	}
	settings := map[string]any{"number_of_replicas": 0, "refresh_interval": "-1"}
	if t.cfg.Shards > 0 {
		settings["number_of_shards"] = t.cfg.Shards
	}
	body, err := json.Marshal(map[string]any{"settings": map[string]any{"index": settings}, "mappings": t.mapping})
	if err != nil {
		return fmt.Errorf("elasticsearch create %s: encode the mapping: %w", gen, err)
	}
	_, _, err = t.call(ctx, "create index "+gen, func() esapi.Request {
		return esapi.IndicesCreateRequest{Index: gen, Body: bytes.NewReader(body)}
	})
	if isType(err, "resource_already_exists_exception") {
		return nil
	}
	return err
}

// Ready gives gen the settings readers need (Replicas, RefreshInterval)
// and refreshes it, so every write so far is visible to search.
func (t *Target) Ready(ctx context.Context, gen string) error {
	if err := t.checkGen(gen); err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"index": map[string]any{
		"number_of_replicas": *t.cfg.Replicas, "refresh_interval": t.cfg.RefreshInterval}})
	if _, _, err := t.call(ctx, "restore settings of "+gen, func() esapi.Request {
		return esapi.IndicesPutSettingsRequest{Index: []string{gen}, Body: bytes.NewReader(body)}
	}); err != nil {
		return err
	}
	_, _, err := t.call(ctx, "refresh "+gen, func() esapi.Request {
		return esapi.IndicesRefreshRequest{Index: []string{gen}}
	})
	return err
}

// Switch points the alias at gen in one POST /_aliases (remove the old
// index, add gen): readers see the old index or gen, never neither.
func (t *Target) Switch(ctx context.Context, gen string) error {
	if err := t.checkGen(gen); err != nil {
		return err
	}
	cur, err := t.Current(ctx)
	if err != nil {
		return err
	}
	if cur == gen {
		return nil
	}
	var actions []any
	if cur != "" {
		actions = append(actions, map[string]any{"remove": map[string]any{"index": cur, "alias": t.cfg.Alias}})
	}
	actions = append(actions, map[string]any{"add": map[string]any{"index": gen, "alias": t.cfg.Alias}})
	body, _ := json.Marshal(map[string]any{"actions": actions})
	_, _, err = t.call(ctx, "switch alias "+t.cfg.Alias+" to "+gen, func() esapi.Request {
		return esapi.IndicesUpdateAliasesRequest{Body: bytes.NewReader(body)}
	})
	if err == nil {
		t.log.Info("alias switched", "from", cur, "to", gen)
	}
	return err
}

// Drop deletes index gen; it refuses the one the alias points at. A
// missing gen is not an error.
func (t *Target) Drop(ctx context.Context, gen string) error {
	if err := t.checkGen(gen); err != nil {
		return err
	}
	cur, err := t.Current(ctx)
	if err != nil {
		return err
	}
	if cur == gen {
		return fmt.Errorf("elasticsearch: %s is the current generation of alias %s; switch to another before dropping it", gen, t.cfg.Alias)
	}
	_, _, err = t.call(ctx, "delete index "+gen, func() esapi.Request {
		return esapi.IndicesDeleteRequest{Index: []string{gen}}
	}, http.StatusNotFound)
	return err
}
