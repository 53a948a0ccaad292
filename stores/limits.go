package stores

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/transitdb/transit/plan"
	"github.com/transitdb/transit/sources/mysql"
)

// maxConns is the plan's max_connections of st, 0 when unlimited.
func maxConns(st *plan.Store) int {
	if st.Limits == nil {
		return 0
	}
	return st.Limits.MaxConnections
}

// capURL adds pgxpool's pool_max_conns to a postgres URL when the plan caps
// the store's connections, so every pool opened from it honours the cap.
func capURL(st *plan.Store) string {
	n := maxConns(st)
	if n == 0 || st.Kind != "postgres" {
		return st.URL
	}
	u, err := url.Parse(st.URL)
	if err != nil {
		return st.URL // the adapter reports the bad URL
	}
	q := u.Query()
	q.Set("pool_max_conns", strconv.Itoa(n))
	u.RawQuery = q.Encode()
	return u.String()
}

// capDB caps a database/sql pool (mysql, sqlite) to the plan's
// max_connections.
func capDB(st *plan.Store, v any) {
	n := maxConns(st)
	if n == 0 {
		return
	}
	if d, ok := v.(interface{ DB() *sql.DB }); ok {
		d.DB().SetMaxOpenConns(n)
	}
}

// replicaLagQuery reads the largest replay lag of the server's standbys,
// in seconds (0 without standbys).
const replicaLagQuery = `SELECT COALESCE(EXTRACT(EPOCH FROM max(replay_lag)), 0)::float8 FROM pg_stat_replication`

// Probe returns the throttle probe of store name: its throttle query (or,
// for max_replica_lag, the replay lag) run on its own connection, opened on
// first use and reopened after a failure. It returns nil when the plan sets
// neither. close releases the connection.
func (s *Set) Probe(name string) (probe func(context.Context) (float64, error), closeFn func(), err error) {
	st, err := s.store(name)
	if err != nil {
		return nil, nil, err
	}
	l := st.Limits
	if l == nil || (l.Throttle == nil && l.MaxReplicaLag == 0) {
		return nil, func() {}, nil
	}
	query := replicaLagQuery
	if l.Throttle != nil {
		query = l.Throttle.Query
	}
	switch st.Kind {
	case "postgres":
		var conn *pgx.Conn
		probe = func(ctx context.Context) (float64, error) {
			if conn == nil || conn.IsClosed() {
				c, err := pgx.Connect(ctx, st.URL)
				if err != nil {
					return 0, fmt.Errorf("throttle: connect to %s: %s", name, redactErr(err))
				}
				conn = c
			}
			var txt string
			if err := conn.QueryRow(ctx, query, pgx.QueryResultFormats{pgx.TextFormatCode}).Scan(&txt); err != nil {
				_ = conn.Close(context.Background())
				conn = nil
				return 0, fmt.Errorf("throttle query on %s: %w", name, err)
			}
			return parseFigure(txt)
		}
		return probe, func() {
			if conn != nil {
				_ = conn.Close(context.Background())
			}
		}, nil
	case "mysql":
		cfg, err := mysql.ParseURL(st.URL)
		if err != nil {
			return nil, nil, fmt.Errorf("throttle: store %s: %w", name, err)
		}
		conn, err := gomysql.NewConnector(cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("throttle: store %s: %s", name, redactErr(err))
		}
		db := sql.OpenDB(conn)
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		probe = func(ctx context.Context) (float64, error) {
			var txt string
			if err := db.QueryRowContext(ctx, query).Scan(&txt); err != nil {
				return 0, fmt.Errorf("throttle query on %s: %w", name, err)
			}
			return parseFigure(txt)
		}
		return probe, func() { _ = db.Close() }, nil
	}
	return nil, nil, fmt.Errorf("store %s: throttle is not supported for %s stores", name, st.Kind)
}

func parseFigure(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fmt.Errorf("throttle query returned %q, not a number", s)
	}
	return v, nil
}
