// Package mysql reads MySQL and MariaDB databases for transit, through
// database/sql and github.com/go-sql-driver/mysql.
//
// Open takes "mysql://user:pass@host:3306/db?params" or a driver DSN
// ("user:pass@tcp(host:3306)/db?params"). Every connection runs with
// time_zone '+00:00', text protocol with client-side parameter
// interpolation (one round trip per query), and no time parsing in the
// driver: Scan decodes each value once, from the wire bytes, straight into
// the record Go type. Errors never contain the password.
//
// # Type mapping
//
// Describe reads information_schema (COLUMNS, STATISTICS,
// KEY_COLUMN_USAGE, REFERENTIAL_CONSTRAINTS and, on MariaDB,
// CHECK_CONSTRAINTS) and maps each column:
//
//	MySQL / MariaDB                     record type   details
//	tinyint(1)                          Bool          0/1; other values are Invalid
//	tinyint, smallint, mediumint,       Int           Bits 8, 16, 24, 32, 64
//	int, bigint
//	... unsigned                        Uint          Bits as above; Unsigned in Native
//	decimal(p,s), numeric(p,s)          Decimal       Precision p, Scale s; text as the server prints it
//	float                               Float         Bits 32; shortest decimal form, widened to float64
//	double, real                        Float         Bits 64
//	char(n)                             Text          Length n, Fixed
//	varchar(n)                          Text          Length n
//	tinytext, text, mediumtext,         Text          Length 0 (unbounded)
//	longtext
//	binary(n)                           Bytes         Length n, Fixed
//	varbinary(n)                        Bytes         Length n
//	tinyblob, blob, mediumblob,         Bytes         Length 0
//	longblob
//	date                                Date          zero dates are Invalid
//	datetime(p)                         Timestamp     Precision p; zero dates are Invalid
//	timestamp(p)                        TimestampTZ   Precision p; read in UTC (session time_zone '+00:00')
//	time(p)                             Time          Precision p; values outside 00:00:00-23:59:59 are Invalid
//	year                                Year          int64
//	json (MySQL); longtext with a       JSON          JSON text
//	json_valid(col) check (MariaDB)
//	enum('a',...)                       Enum          Values; the '' error value is Invalid unless declared
//	set('a',...)                        Set           Values
//	bit(n)                              Bit           Bits n; uint64
//	uuid (MariaDB 10.7+)                UUID          canonical lower-case text
//	anything else (geometry, inet6...)  Text, or Bytes for geometry types
//
// Text values that are not valid UTF-8 become record.Invalid{Reason:
// "invalid UTF-8"}; zero dates ('0000-00-00', '0000-00-00 00:00:00', or a
// zero month or day) become record.Invalid{Reason: "zero date"}.
//
// # Scanning
//
// Scan uses keyset pagination: one query per batch,
//
//	SELECT ... WHERE (a >= ? AND (a > ? OR (a = ? AND b > ?))) ORDER BY a, b LIMIT n
//
// (see sources/sqlkeyset), resuming after the last row of the previous
// batch. Row slices are reused from batch to batch. Scan without OrderBy
// sorts by the primary key; a table without one is streamed by a single
// unordered query. Describe results are cached per Source.
package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/transitdb/transit/internal/redact"
	"github.com/transitdb/transit/record"
	"github.com/transitdb/transit/sources"
)

// Source reads one MySQL/MariaDB database. It is safe for concurrent use.
type Source struct {
	db      *sql.DB
	dbName  string
	mariadb bool
	version string

	mu     sync.Mutex
	tables map[string]*record.Table // Describe cache
}

var (
	_ sources.Source = (*Source)(nil)
	_ sources.Getter = (*Source)(nil)
)

// Open connects to the database named in url and checks the connection.
func Open(ctx context.Context, url string) (*Source, error) {
	cfg, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	where := Redact(url)
	if cfg.DBName == "" {
		return nil, fmt.Errorf("open mysql %s: no database name", where)
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, redact.Error(fmt.Errorf("open mysql %s: %w", where, err), url)
	}
	db := sql.OpenDB(conn)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &Source{db: db, dbName: cfg.DBName, tables: map[string]*record.Table{}}
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&s.version); err != nil {
		db.Close()
		return nil, redact.Error(fmt.Errorf("open mysql %s: %w", where, err), url)
	}
	s.mariadb = strings.Contains(strings.ToLower(s.version), "mariadb")
	return s, nil
}

// ParseURL turns a "mysql://user:pass@host:port/db?params" URL or a driver
// DSN into a driver configuration with transit's session settings:
// time_zone '+00:00', UTC, client-side interpolation, no time parsing.
// Errors never contain the password.
func ParseURL(raw string) (*mysql.Config, error) {
	var cfg *mysql.Config
	if strings.HasPrefix(raw, "mysql://") || strings.HasPrefix(raw, "mariadb://") {
		u, err := url.Parse(raw)
		if err != nil {
			// url.Error quotes the URL: drop it.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return nil, redact.Error(fmt.Errorf("parse mysql url %s: %w", Redact(raw), err), raw)
		}
		host := u.Host
		if host == "" {
			host = "127.0.0.1:3306"
		} else if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "3306")
		}
		// Let the driver parse the parameters; set the credentials after.
		dsn := "tcp(" + host + ")/"
		if u.RawQuery != "" {
			dsn += "?" + u.RawQuery
		}
		cfg, err = mysql.ParseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("parse mysql url %s: %w", Redact(raw), err)
		}
		if u.User != nil {
			cfg.User = u.User.Username()
			cfg.Passwd, _ = u.User.Password()
		}
		cfg.DBName = strings.TrimPrefix(u.Path, "/")
	} else {
		var err error
		cfg, err = mysql.ParseDSN(raw)
		if err != nil {
			return nil, redact.Error(fmt.Errorf("parse mysql dsn %s: %w", Redact(raw), err), raw)
		}
	}
	cfg.ParseTime = false
	cfg.InterpolateParams = true
	cfg.Loc = time.UTC
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	if _, ok := cfg.Params["net_write_timeout"]; !ok {
		// A page query waits while its batches are emitted downstream.
		cfg.Params["net_write_timeout"] = "600"
	}
	return cfg, nil
}

// Redact returns url (either form) with its password replaced by "xxxxx".
func Redact(raw string) string { return redact.URL(raw) }

// Close closes the connection pool.
func (s *Source) Close() error { return s.db.Close() }

// DB returns the underlying pool (for tests and tools).
func (s *Source) DB() *sql.DB { return s.db }

// Tables lists the base tables of the database, by name.
func (s *Source) Tables(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT TABLE_NAME FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`)
	if err != nil {
		return nil, fmt.Errorf("list tables of mysql database %s: %w", s.dbName, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list tables of mysql database %s: %w", s.dbName, err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables of mysql database %s: %w", s.dbName, err)
	}
	return out, nil
}

func (s *Source) notFound(table string) error {
	return &sources.NotFoundError{Store: "mysql database " + s.dbName, What: "table", Name: table}
}

// EstimateRows returns InnoDB's statistics estimate of a table's rows.
func (s *Source) EstimateRows(ctx context.Context, table string) (int64, error) {
	var n sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT TABLE_ROWS FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`, table).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("estimate rows of mysql table %s.%s: %w", s.dbName, table, err)
	}
	return n.Int64, nil
}
