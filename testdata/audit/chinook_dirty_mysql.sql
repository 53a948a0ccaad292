-- Dirties a fresh load of Chinook (MariaDB) so that every audit rule and
-- every fit-to-target check of audit's tests fails with known rows.
-- Applied after examples/chinook/Chinook_MySql.sql.
SET SESSION sql_mode = '';
SET FOREIGN_KEY_CHECKS = 0;

-- unique(Email): customers 1 and 2 share an email.
UPDATE Customer SET Email = (SELECT e FROM (SELECT Email AS e FROM Customer WHERE CustomerId = 1) x) WHERE CustomerId = 2;
-- pattern(Email): customers 3 and 4.
UPDATE Customer SET Email = 'not-an-email' WHERE CustomerId = 3;
UPDATE Customer SET Email = 'nobody@nowhere' WHERE CustomerId = 4;
-- fit: Company longer than the target varchar(80): customer 5.
ALTER TABLE Customer MODIFY Company NVARCHAR(200);
UPDATE Customer SET Company = REPEAT('Acme ', 30) WHERE CustomerId = 5;
-- max_null_fraction(Company) <= 0.9: all but customer 5 lose their company.
UPDATE Customer SET Company = NULL WHERE CustomerId <> 5;

-- references(AlbumId → Album): tracks 5 and 7 are orphans.
UPDATE Track SET AlbumId = 9999 WHERE TrackId IN (5, 7);
-- accepted_values(MediaTypeId): track 1.
UPDATE Track SET MediaTypeId = 9 WHERE TrackId = 1;
-- fit: Bytes beyond the target integer: track 3.
ALTER TABLE Track MODIFY Bytes BIGINT;
UPDATE Track SET Bytes = 5000000000 WHERE TrackId = 3;

-- not_null(BillingCountry) and the NOT NULL target: invoices 1 and 2.
UPDATE Invoice SET BillingCountry = NULL WHERE InvoiceId IN (1, 2);
-- range(Total 0..100) and sql (Total < 0): invoices 3 (500) and 4 (-1).
UPDATE Invoice SET Total = 500 WHERE InvoiceId = 3;
UPDATE Invoice SET Total = -1 WHERE InvoiceId = 4;
-- cross-store references(CustomerId → pg.customers): invoice 6.
UPDATE Invoice SET CustomerId = 999 WHERE InvoiceId = 6;
-- fit: Total beyond the target numeric(10,2): invoice 7 (also out of range).
ALTER TABLE Invoice MODIFY Total NUMERIC(12,2);
UPDATE Invoice SET Total = 123456789.99 WHERE InvoiceId = 7;
-- fit: a MySQL zero date: invoice 10.
UPDATE Invoice SET InvoiceDate = '0000-00-00 00:00:00' WHERE InvoiceId = 10;
-- freshness: the newest 60 days of invoices are gone.
DELETE FROM Invoice WHERE InvoiceDate >= (SELECT d FROM (SELECT DATE_SUB(MAX(InvoiceDate), INTERVAL 60 DAY) AS d FROM Invoice) x);

-- unique(InvoiceId, TrackId): invoice lines 1 and 2 (invoice 1, track 2).
UPDATE InvoiceLine SET TrackId = 2 WHERE InvoiceLineId = 2;

-- row_count(Genre) between 20 and 30: only 15 remain.
DELETE FROM Genre WHERE GenreId > 15;

SET FOREIGN_KEY_CHECKS = 1;
