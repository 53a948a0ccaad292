package main

import (
	"context"
	"fmt"
	"log/slog"

	goredis "github.com/redis/go-redis/v9"

	"github.com/transitdb/transit/border"
	"github.com/transitdb/transit/feeds"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/sinks/doc"
	essink "github.com/transitdb/transit/sinks/elasticsearch"
	redissink "github.com/transitdb/transit/sinks/redis"
	"github.com/transitdb/transit/stores"
)

// openTarget opens the doc.Target a feed writes into, from its store in
// the plan. id renders a document's ID from the fields a Scan reads back.
func openTarget(ctx context.Context, p *plan.Plan, set *stores.Set, spec *plan.Feed, log *slog.Logger, id func(map[string]any) string) (doc.Target, func(), error) {
	st := p.Store(spec.ToStore)
	if st == nil {
		return nil, nil, fmt.Errorf("no store %q", spec.ToStore)
	}
	switch st.Kind {
	case "redis":
		opt, err := goredis.ParseURL(st.URL)
		if err != nil {
			return nil, nil, fmt.Errorf("store %s: %w", st.Name, err)
		}
		c := goredis.NewClient(opt)
		if err := c.Ping(ctx).Err(); err != nil {
			c.Close()
			return nil, nil, fmt.Errorf("store %s (redis %s): %w", st.Name, plan.RedactURL(st.URL), err)
		}
		t, err := redissink.NewTarget(c, redissink.Options{KeyTemplate: spec.Key, Format: redissink.Format(spec.Format),
			TTL: spec.TTL, Columns: spec.Columns}, id)
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		return t, func() { t.Close(); c.Close() }, nil
	case "elasticsearch":
		return openElasticsearch(ctx, st, set, spec, log)
	}
	return nil, nil, fmt.Errorf("store %s: a %s store cannot be a feed target", st.Name, st.Kind)
}

// verifyHook compares a rebuilt generation with PostgreSQL before the
// switch (feeds/feedverify): a difference keeps readers on the old
// generation, with an error naming the counts and the first differences;
// the rebuild records the outcome in the ledger as the last verify.
var verifyHook = feeds.VerifyBeforeSwitch

// openElasticsearch builds the Target of an Elasticsearch feed: the alias
// and its generations, the mapping derived from the feed's PostgreSQL
// table with the plan's overrides, and the store's limits and breaker.
func openElasticsearch(ctx context.Context, st *plan.Store, set *stores.Set, spec *plan.Feed, log *slog.Logger) (doc.Target, func(), error) {
	src, err := set.Source(ctx, spec.FromStore)
	if err != nil {
		return nil, nil, err
	}
	table, err := src.Describe(ctx, spec.FromTable)
	if err != nil {
		return nil, nil, fmt.Errorf("feed %s: %w", spec.Name, err)
	}
	b := border.New(st.Name, border.ConfigFrom(st.Limits, nil), border.IsTransient, nil, log, border.Hooks{})
	bctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	if b != nil {
		b.Start(bctx)
	}
	t, err := essink.New(essink.Config{
		Addresses: []string{st.URL},
		Username:  st.Username, Password: st.Password, APIKey: st.APIKey,
		Alias:   spec.ToAlias,
		Table:   table,
		Mapping: essink.MappingFor(table, spec.Mapping),
		Border:  b,
		Log:     log,
	})
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("store %s: %w", st.Name, err)
	}
	return t, func() { t.Close(); stop() }, nil
}
