package main

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/transitdb/transit/feeds"
	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/sinks/doc"
	redissink "github.com/transitdb/transit/sinks/redis"
)

// openTarget opens the doc.Target a feed writes into, from its store in
// the plan. id renders a document's ID from the fields a Scan reads back.
func openTarget(ctx context.Context, p *plan.Plan, spec *plan.Feed, id func(map[string]any) string) (doc.Target, func(), error) {
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
		// TODO(lead, at the merge of essink): build the Elasticsearch
		// Target here from st.URL, st.Username/Password/APIKey, the alias
		// spec.ToAlias and spec.Mapping.
		return nil, nil, fmt.Errorf("store %s: the Elasticsearch target is not in this build yet", st.Name)
	}
	return nil, nil, fmt.Errorf("store %s: a %s store cannot be a feed target", st.Name, st.Kind)
}

// verifyHook compares a rebuilt generation with PostgreSQL before the
// switch. TODO(lead, at the merge of feedcheck): call feeds/feedverify
// here and return an error naming the differences; nil skips the check.
var verifyHook func(ctx context.Context, f *feeds.Feed, gen string) error
