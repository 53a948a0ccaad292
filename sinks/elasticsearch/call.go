package elasticsearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/transitdb/transit/border"
)

// Error is a request Elasticsearch answered with a failure status. It
// unwraps to a *border.HTTPStatusError, so border.Classify tells whether
// trying again may help (429, 502, 503, 504) or not.
type Error struct {
	Op     string // what transit asked, e.g. "bulk into customers_v2"
	Status int
	Type   string // the exception type, e.g. "index_not_found_exception"
	Reason string
}

func (e *Error) Error() string {
	if e.Type == "" {
		return fmt.Sprintf("elasticsearch %s: http status %d: %s", e.Op, e.Status, e.Reason)
	}
	return fmt.Sprintf("elasticsearch %s: http status %d: %s: %s", e.Op, e.Status, e.Type, e.Reason)
}

// Unwrap gives the status as a border.HTTPStatusError.
func (e *Error) Unwrap() error { return &border.HTTPStatusError{Status: e.Status, Body: e.Reason} }

// errorOf decodes an ES error body (the exception envelope, or the string
// form some endpoints use).
func errorOf(op string, status int, body []byte) *Error {
	e := &Error{Op: op, Status: status}
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && len(env.Error) > 0 {
		var c cause
		if json.Unmarshal(env.Error, &c) == nil {
			e.Type, e.Reason = c.Type, c.text()
			return e
		}
		var s string
		if json.Unmarshal(env.Error, &s) == nil {
			e.Reason = s
			return e
		}
	}
	const max = 300
	e.Reason = string(body)
	if len(e.Reason) > max {
		e.Reason = e.Reason[:max] + "…"
	}
	return e
}

// cause is an ES exception object.
type cause struct {
	Type     string `json:"type"`
	Reason   string `json:"reason"`
	CausedBy *cause `json:"caused_by"`
}

// text is the reason followed by the reasons of its causes.
func (c *cause) text() string {
	s := c.Reason
	for n := c.CausedBy; n != nil; n = n.CausedBy {
		s += " (caused by " + n.Type + ": " + n.Reason + ")"
	}
	return s
}

// newBackoff is the retry policy, stopping when ctx ends.
func (t *Target) newBackoff(ctx context.Context) backoff.BackOff {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = t.cfg.Retry.Initial
	bo.MaxInterval = t.cfg.Retry.Max
	bo.MaxElapsedTime = max(t.cfg.Retry.MaxElapsed, 0)
	bo.Reset()
	return backoff.WithContext(bo, ctx)
}

// call performs one request: each attempt goes through the border's
// breaker and is bounded by RequestTimeout; transient failures are retried
// with backoff. mk builds the request afresh for each attempt (a body
// reader is consumed by a send). A status in accept counts as success.
// It returns the final status and body.
func (t *Target) call(ctx context.Context, op string, mk func() esapi.Request, accept ...int) (int, []byte, error) {
	var status int
	var body []byte
	attempt := func(ctx context.Context) error {
		actx, cancel := context.WithTimeout(ctx, t.cfg.RequestTimeout)
		defer cancel()
		res, err := mk().Do(actx, t.es)
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("elasticsearch %s: no answer within %s: %w", op, t.cfg.RequestTimeout, err)
			}
			return fmt.Errorf("elasticsearch %s: %w", op, err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			return fmt.Errorf("elasticsearch %s: read the answer: %w", op, err)
		}
		status, body = res.StatusCode, b
		if status < 300 {
			return nil
		}
		for _, a := range accept {
			if status == a {
				return nil
			}
		}
		return errorOf(op, status, b)
	}
	tries := 0
	err := backoff.RetryNotify(func() error {
		tries++
		err := t.cfg.Border.Do(ctx, attempt)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return backoff.Permanent(fmt.Errorf("elasticsearch %s: %w (last failure: %v)", op, ctx.Err(), err))
		case !border.IsTransient(err):
			return backoff.Permanent(err)
		}
		return err
	}, t.newBackoff(ctx), func(err error, d time.Duration) {
		t.log.Warn("elasticsearch request failed, retrying", "op", op, "attempt", tries, "wait", d, "err", err)
	})
	if err != nil {
		return 0, nil, err
	}
	return status, body, nil
}

// isType reports whether err is an *Error of the exception type typ.
func isType(err error, typ string) bool {
	var e *Error
	return errors.As(err, &e) && e.Type == typ
}
