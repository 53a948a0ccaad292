// Package border holds what every store shares at its edge with the
// outside world: which errors are worth retrying, and why.
package border

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// Cause says why an operation failed, as far as it can be told from the
// error's type (never from its text).
type Cause int

// The causes Classify tells apart.
const (
	CauseUnknown     Cause = iota // not recognised: permanent
	CauseUnreachable              // the host name does not resolve, or no route
	CauseRefused                  // nothing listens on the port (yet)
	CauseTimeout                  // a dial or an I/O timed out
	CauseLost                     // the connection broke mid-conversation
	CauseAuth                     // wrong user or password, or no privilege
	CauseNoDatabase               // the database named in the URL does not exist
	CauseShutdown                 // the server is shutting down or starting up
	CauseResource                 // too many connections, out of memory or disk
	CauseConflict                 // serialization failure or deadlock
	CauseLock                     // a lock could not be taken in time
	CauseRateLimit                // the server asked us to slow down (HTTP 429)
	CauseServer                   // a gateway or server error (HTTP 502/503/504)
	CauseRequest                  // the request itself is wrong (HTTP 4xx)
	CauseCanceled                 // the caller gave up (context cancelled)
)

var causeNames = [...]string{"unknown", "unreachable host", "connection refused", "timeout",
	"connection lost", "authentication failed", "missing database", "server shutdown",
	"server resources exhausted", "conflict", "lock not available", "rate limited",
	"server error", "bad request", "canceled"}

func (c Cause) String() string {
	if c < 0 || int(c) >= len(causeNames) {
		return fmt.Sprintf("cause(%d)", int(c))
	}
	return causeNames[c]
}

// Class is the verdict on one error: whether trying again may help, and why
// it failed.
type Class struct {
	Transient bool
	Cause     Cause
}

func transient(c Cause) Class { return Class{Transient: true, Cause: c} }
func permanent(c Cause) Class { return Class{Cause: c} }

// IsTransient reports whether err is known to pass if the same work is
// tried again. Everything not known to be transient is permanent.
func IsTransient(err error) bool { return Classify(err).Transient }

// Classify tells what kind of failure err is. A nil error is permanent
// with CauseUnknown; callers check for nil first.
func Classify(err error) Class {
	if err == nil {
		return Class{}
	}
	if errors.Is(err, context.Canceled) {
		return permanent(CauseCanceled)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return classifySQLState(pgErr.Code)
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return classifyMySQL(myErr.Number)
	}
	var httpErr *HTTPStatusError
	if errors.As(err, &httpErr) {
		return ClassifyHTTP(httpErr.Status)
	}
	return classifyNet(err)
}

// classifySQLState classifies a PostgreSQL SQLSTATE code.
func classifySQLState(code string) Class {
	switch code {
	case "40001", "40P01":
		return transient(CauseConflict)
	case "55P03":
		return transient(CauseLock)
	case "57P01", "57P02", "57P03":
		return transient(CauseShutdown)
	case "57014": // query_canceled (statement timeout)
		return transient(CauseTimeout)
	case "3D000":
		return permanent(CauseNoDatabase)
	case "42501": // insufficient_privilege
		return permanent(CauseAuth)
	}
	if len(code) != 5 {
		return permanent(CauseUnknown)
	}
	switch code[:2] {
	case "08":
		return transient(CauseLost)
	case "53":
		return transient(CauseResource)
	case "28":
		return permanent(CauseAuth)
	}
	return permanent(CauseUnknown)
}

// classifyMySQL classifies a MySQL/MariaDB server error number.
func classifyMySQL(n uint16) Class {
	switch n {
	case 1040, 1041, 1203: // too many connections, out of memory, max user connections
		return transient(CauseResource)
	case 1205: // lock wait timeout
		return transient(CauseLock)
	case 1213: // deadlock
		return transient(CauseConflict)
	case 1053: // server shutdown in progress
		return transient(CauseShutdown)
	case 2006, 2013, 1927, 1158, 1159, 1160, 1161: // gone away, lost, killed, network read/write
		return transient(CauseLost)
	case 1045, 1044, 1698, 1227, 1142, 1143: // access denied (user, db, socket auth, privilege)
		return permanent(CauseAuth)
	case 1049: // unknown database
		return permanent(CauseNoDatabase)
	}
	return permanent(CauseUnknown)
}

// HTTPStatusError is an HTTP response whose status says the request failed.
type HTTPStatusError struct {
	Status int
	Body   string // a short excerpt, for the message
}

func (e *HTTPStatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("http status %d", e.Status)
	}
	return fmt.Sprintf("http status %d: %s", e.Status, e.Body)
}

// ClassifyHTTP classifies an HTTP status: 429, 502, 503 and 504 are
// transient; other 4xx and 5xx are permanent. A status below 400 is not a
// failure and classifies as permanent CauseUnknown.
func ClassifyHTTP(status int) Class {
	switch {
	case status == 429:
		return transient(CauseRateLimit)
	case status == 502 || status == 503 || status == 504:
		return transient(CauseServer)
	case status == 408:
		return transient(CauseTimeout)
	case status == 401 || status == 403:
		return permanent(CauseAuth)
	case status >= 400 && status < 500:
		return permanent(CauseRequest)
	case status >= 500:
		return permanent(CauseServer)
	}
	return permanent(CauseUnknown)
}

// classifyNet classifies errors below the protocol: DNS, dialing, I/O.
func classifyNet(err error) Class {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return permanent(CauseUnreachable)
		}
		if dnsErr.IsTimeout {
			return transient(CauseTimeout)
		}
		if dnsErr.IsTemporary {
			return transient(CauseUnreachable)
		}
		return permanent(CauseUnreachable)
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return transient(CauseRefused)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return permanent(CauseUnreachable)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, syscall.ETIMEDOUT):
		return transient(CauseTimeout)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, mysql.ErrInvalidConn):
		return transient(CauseLost)
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return transient(CauseTimeout)
	}
	if pgconn.Timeout(err) {
		return transient(CauseTimeout)
	}
	if pgconn.SafeToRetry(err) {
		return transient(CauseLost)
	}
	return permanent(CauseUnknown)
}
