package postgres

import "github.com/jackc/pgx/v5/pgtype"

// pgtypeNumeric parses decimal text for COPY.
type pgtypeNumeric struct{ pgtype.Numeric }
